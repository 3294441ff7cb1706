/**
 * Per-hop timestamps of pushes inside the router and the gateways, for
 * `bench:push --hops DIR` (this build's cluster only): preloaded with
 * `node --import <this file>`, it wraps a few methods of the code under test
 * on their prototypes (the app imports the same module instances), so the
 * services carry no diagnostic code and nothing changes when it is not
 * loaded.
 *
 * Marks, keyed by the bench driver's send time (the `t` the driver writes
 * into each push's `data`, as text), in CLOCK_MONOTONIC ms (process.hrtime,
 * the clock `perf sched record -k CLOCK_MONOTONIC` uses too):
 *  - router `accept`: the push core's entry (RouterCore.pushSettled /
 *    pushValidated: the HTTP request read and validated);
 *  - router `stored`: the recipient routed (PushRouting.routeOne: the store
 *    step's answer and its continuation ran);
 *  - router `published`: its delivery handed to the bus (RouterBusLink.deliver:
 *    the end-of-turn coalescing flush);
 *  - gateway `received`: the deliver message's handler entered
 *    (BusGatewayListener.deliverAll);
 *  - gateway `written`: the delivery written to its user's sockets
 *    (GatewayCore.deliver returned; each delivery of a message on its own).
 * GC pauses (perf_hooks) are kept with their start and duration.
 *
 * SIGUSR2 writes what was kept to `<LL_HOPS_DIR>/<role>-<pid>.json` and
 * starts afresh (the bench sends it before and after the measured phase).
 * At most MAX_MARKS marks per kind are kept.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const MAX_MARKS = 400_000;
const dir = process.env.LL_HOPS_DIR ?? '';
const main = process.argv[1] ?? '';
const role = /[\\/]router[\\/]main\.js$/.test(main) ? 'router' : /[\\/]gateway[\\/]main\.js$/.test(main) ? 'gateway' : '';
const services = path.resolve(path.dirname(main), '..');

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
/** performance.now() 0 on the monotonic clock. */
const originMs = nowMs() - performance.now();

type Marks = Record<string, { keys: string[]; at: number[] }>;
let marks: Marks = {};
let gc: number[][] = [];

/** The driver's `t` from a push's data text (`{"t":<ms>,"p":<phase>}`), or undefined. */
function keyOf(data: unknown): string | undefined {
  if (typeof data !== 'string' || !data.startsWith('{"t":')) return undefined;
  const end = data.indexOf(',', 5);
  return end > 5 ? data.slice(5, end) : undefined;
}

function mark(kind: string, data: unknown, at: number): void {
  const k = keyOf(data);
  if (k === undefined) return;
  const m = (marks[kind] ??= { keys: [], at: [] });
  if (m.keys.length >= MAX_MARKS) return;
  m.keys.push(k);
  m.at.push(at);
}

type Fn = (...args: any[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any
function wrap(proto: Record<string, unknown>, name: string, around: (orig: Fn) => Fn): void {
  const orig = proto[name];
  if (typeof orig !== 'function') throw new Error(`hop-probe: no method ${name}`);
  proto[name] = around(orig as Fn);
}

interface Rec { data: string }
interface Del { pushes: Rec[] }

async function install(): Promise<void> {
  const mod = async (rel: string): Promise<Record<string, { prototype: Record<string, unknown> }>> =>
    (await import(pathToFileURL(path.join(services, rel)).href)) as Record<string, { prototype: Record<string, unknown> }>;
  if (role === 'router') {
    const core = (await mod('router/core/router-core.js')).RouterCore!.prototype;
    for (const name of ['pushSettled', 'pushValidated']) {
      wrap(core, name, (orig) => function (this: unknown, pushes: Array<{ data: string }>) {
        const at = nowMs();
        for (const p of pushes) mark('accept', p.data, at);
        return orig.call(this, pushes);
      });
    }
    wrap((await mod('router/core/push-routing.js')).PushRouting!.prototype, 'routeOne', (orig) => function (this: unknown, ...a: unknown[]) {
      mark('stored', (a[0] as Rec).data, nowMs());
      return orig.apply(this, a);
    });
    wrap((await mod('router/bus-link.js')).RouterBusLink!.prototype, 'deliver', (orig) => function (this: unknown, gw: string, ds: Del[]) {
      const r: unknown = orig.call(this, gw, ds);
      const at = nowMs();
      for (const d of ds) for (const p of d.pushes) mark('published', p.data, at);
      return r;
    });
  } else if (role === 'gateway') {
    wrap((await mod('gateway/bus-link.js')).BusGatewayListener!.prototype, 'deliverAll', (orig) => function (this: unknown, ds: Del[]) {
      const at = nowMs();
      for (const d of ds) for (const p of d.pushes) mark('received', p.data, at);
      return orig.call(this, ds);
    });
    // Per delivery, not at the message's end: a client can read an early delivery of a long message before the
    // gateway has written the last one (which read as a negative written→client hop).
    wrap((await mod('gateway/core/gateway-core.js')).GatewayCore!.prototype, 'deliver', (orig) => function (this: unknown, d: Del) {
      const r: unknown = orig.call(this, d);
      const done = nowMs();
      for (const p of d.pushes) mark('written', p.data, done);
      return r;
    });
  }
}

if (role !== '' && dir !== '') {
  await install();
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) if (gc.length < MAX_MARKS) gc.push([originMs + e.startTime, e.duration, ((e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0)]);
  }).observe({ entryTypes: ['gc'] });
  process.on('SIGUSR2', () => {
    writeFileSync(path.join(dir, `${role}-${process.pid}.json`), JSON.stringify({ role, pid: process.pid, marks, gc }));
    marks = {};
    gc = [];
  });
}
