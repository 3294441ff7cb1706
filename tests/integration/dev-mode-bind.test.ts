/**
 * Dev mode's gateway accepts tokens signed with the public built-in secret:
 * anyone who reaches it can mint a token for any user. With
 * LONGLINK_GATEWAY_HOST unset it listens on loopback only; set, it listens
 * where told (exposing a dev gateway stays possible, on purpose).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import { startStandalone, type Standalone } from '../../services/standalone/app.js';
import { loadGatewayConfig } from '../../services/gateway/config.js';
import { recordingLog } from '../../infra/local/nats.js';

/** This machine's first non-loopback IPv4 address, if it has one. */
const lan = Object.values(os.networkInterfaces()).flat().find((a) => a !== undefined && !a.internal && a.family === 'IPv4')?.address;

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

const BASE = { LONGLINK_GATEWAY_PORT: '0', LONGLINK_API_PORT: '0', LONGLINK_LOG_LEVEL: 'silent' };

describe('dev mode listens on loopback unless told otherwise', () => {
  const running: Standalone[] = [];
  after(async () => { for (const s of running) await s.close(); });

  it('config: the dev secret with no host set means 127.0.0.1; a configured key or host keeps the default / the value', () => {
    assert.equal(loadGatewayConfig({ LONGLINK_DEV: 'true' }).host, '127.0.0.1');
    assert.equal(loadGatewayConfig({ LONGLINK_DEV: 'true', LONGLINK_GATEWAY_HOST: '' }).host, '127.0.0.1');
    assert.equal(loadGatewayConfig({ LONGLINK_DEV: 'true', LONGLINK_GATEWAY_HOST: '0.0.0.0' }).host, '0.0.0.0');
    assert.equal(loadGatewayConfig({ LONGLINK_DEV: 'true', LONGLINK_JWT_SECRET: 'a-real-secret-0123456789-0123456789' }).host, '0.0.0.0');
    assert.equal(loadGatewayConfig({ LONGLINK_JWT_SECRET: 'a-real-secret-0123456789-0123456789' }).host, '0.0.0.0');
    assert.ok(Object.isFrozen(loadGatewayConfig({ LONGLINK_DEV: 'true' })));
  });

  it('the start-up warning says where the dev gateway listens and names LONGLINK_GATEWAY_HOST', async () => {
    const warning = async (env: NodeJS.ProcessEnv): Promise<string> => {
      const { log, entries } = recordingLog();
      const s = await startStandalone({ ...BASE, ...env }, { log });
      running.push(s);
      const w = entries.filter((e) => e.level === 'warn' && e.msg.startsWith('DEV MODE'));
      assert.equal(w.length, 1);
      return w[0]!.msg;
    };
    const local = await warning({});
    assert.match(local, /loopback \(127\.0\.0\.1\) only/);
    assert.match(local, /LONGLINK_GATEWAY_HOST/);
    const exposed = await warning({ LONGLINK_GATEWAY_HOST: '0.0.0.0' });
    assert.match(exposed, /Listening on 0\.0\.0\.0 \(LONGLINK_GATEWAY_HOST\)/);
  });

  it('zero-config standalone (dev secret): the gateway is not reachable on the machine\'s network address', { skip: lan === undefined ? 'no non-loopback IPv4 address' : false }, async () => {
    const s = await startStandalone({ ...BASE });
    running.push(s);
    assert.equal(s.devSecret, true);
    const port = Number(new URL(s.gatewayHttpUrl).port);
    assert.equal(await reachable('127.0.0.1', port), true);
    assert.equal(await reachable(lan!, port), false, `dev gateway reachable on ${lan}:${port}`);
  });

  it('LONGLINK_GATEWAY_HOST=0.0.0.0 still exposes a dev gateway when asked', { skip: lan === undefined ? 'no non-loopback IPv4 address' : false }, async () => {
    const s = await startStandalone({ ...BASE, LONGLINK_GATEWAY_HOST: '0.0.0.0' });
    running.push(s);
    const port = Number(new URL(s.gatewayHttpUrl).port);
    assert.equal(await reachable(lan!, port), true);
  });
});
