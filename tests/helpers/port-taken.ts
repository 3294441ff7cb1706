/**
 * For the tests of listeners on a taken port (listener-port-taken,
 * gateway-metrics-port-taken): a port to name, the message a refused
 * listener fails with (LL_PORT_TAKEN, services/shared/errors.ts portTaken),
 * and the check that the first process kept its port.
 */
import assert from 'node:assert/strict';
import { freePorts } from '../../infra/local/children.js';

/** A free loopback port, to be named by both processes: Linux shares no port it picked itself (port 0), SO_REUSEPORT or not. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** The start-up error of `listener` (e.g. "router HTTP API listener") refused 127.0.0.1:`port`. */
export const portTakenMessage = (port: number, listener: string): RegExp =>
  new RegExp(`could not listen on 127\\.0\\.0\\.1:${port} \\(${listener}\\): another process holds the port \\(which one is unknown\\)`);

/** The first process still answers `path` on the port, every time (nothing shares it). */
export async function stillServes(port: number, path = '/healthz'): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    assert.equal(r.status, 200, `${path} on the first process`);
  }
}
