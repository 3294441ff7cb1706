/**
 * Behaviours every Bus adapter must have (NATS core semantics, see
 * services/shared/bus/bus.ts). Each test gets a fresh bus from the factory and
 * subjects under a unique prefix, so adapters backed by one shared server
 * don't see each other's traffic.
 *
 * `other()` gives a second connection to the same bus (for NATS a second
 * client on the same server; the in-memory adapter returns the same bus).
 * Across connections a subscription is in effect once flush() on the
 * subscribing bus resolves: the tests flush before publishing from elsewhere.
 *
 * "Not delivered" is asserted with a sentinel: a later message, from the same
 * publisher, that the subscriber does receive. NATS keeps per-publisher order,
 * so when the sentinel has arrived, the earlier message would have too.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { BusNoRespondersError, BusTimeoutError, type Bus, type BusMessage } from '../../services/shared/bus/bus.js';

export interface BusHarness {
  bus: Bus;
  other?: () => Promise<Bus>;
  close(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (m: BusMessage): string => dec.decode(m.data);
const WAIT_MS = 15_000;

/** Collects messages; wait(n) resolves as soon as n have arrived (event-driven, no polling). */
class Inbox {
  readonly msgs: BusMessage[] = [];
  private waiters: Array<() => void> = [];
  readonly handler = (m: BusMessage): void => {
    this.msgs.push(m);
    for (const w of [...this.waiters]) w();
  };
  texts(): string[] {
    return this.msgs.map(text);
  }
  wait(n: number, what = `${n} messages`): Promise<void> {
    return this.until(() => this.msgs.length >= n, what);
  }
  until(cond: () => boolean, what: string): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { done(); reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${what}; got [${this.texts().join(', ')}]`)); }, WAIT_MS);
      const check = (): void => { if (cond()) { done(); resolve(); } };
      const done = (): void => { clearTimeout(timer); this.waiters = this.waiters.filter((w) => w !== check); };
      this.waiters.push(check);
    });
  }
}

export function busContract(name: string, make: () => Promise<BusHarness>): void {
  describe(`Bus contract: ${name}`, () => {
    /** Runs a test body with a fresh harness (closed afterwards) and a unique subject prefix. */
    const withBus = async (fn: (h: { bus: Bus; other: Bus; p: string }) => Promise<void>): Promise<void> => {
      const h = await make();
      try {
        const other = h.other ? await h.other() : h.bus;
        await fn({ bus: h.bus, other, p: `t${randomUUID().slice(0, 8)}` });
      } finally {
        await h.close();
      }
    };

    it('delivers payload and headers to every matching subscriber', async () => {
      await withBus(async ({ bus, other, p }) => {
        const local = new Inbox();
        const remote = new Inbox();
        bus.subscribe(`${p}.a`, local.handler);
        other.subscribe(`${p}.a`, remote.handler);
        await other.flush();
        bus.publish(`${p}.a`, enc.encode('one'), { 'x-trace': 'abc', 'Content-Type': 'application/json' });
        bus.publish(`${p}.a`, enc.encode('two'));
        await Promise.all([local.wait(2), remote.wait(2)]);
        for (const inbox of [local, remote]) {
          assert.deepEqual(inbox.texts(), ['one', 'two']);
          const [first, second] = inbox.msgs;
          assert.equal(first!.subject, `${p}.a`);
          assert.deepEqual(first!.headers, { 'x-trace': 'abc', 'Content-Type': 'application/json' });
          assert.equal(first!.reply, undefined);
          assert.equal(second!.headers, undefined);
          assert.ok(first!.data instanceof Uint8Array);
        }
      });
    });

    it('"*" matches exactly one token and ">" one or more trailing tokens', async () => {
      await withBus(async ({ bus, other, p }) => {
        const star = new Inbox();
        const tail = new Inbox();
        const exact = new Inbox();
        other.subscribe(`${p}.*.x`, star.handler);
        other.subscribe(`${p}.a.>`, tail.handler);
        other.subscribe(`${p}.a`, exact.handler);
        await other.flush();
        for (const s of ['a.x', 'b.x', 'a.b.x', 'a', 'x', 'a.y.z']) bus.publish(`${p}.${s}`, enc.encode(s));
        bus.publish(`${p}.end.x`, enc.encode('end')); // sentinel for `*.x`
        bus.publish(`${p}.a.end`, enc.encode('end')); // sentinel for `a.>`
        bus.publish(`${p}.a`, enc.encode('end')); // sentinel for the exact subject
        await Promise.all([star.until(() => star.texts().includes('end'), '*.x sentinel'), tail.until(() => tail.texts().includes('end'), 'a.> sentinel'), exact.wait(2)]);
        assert.deepEqual(star.texts(), ['a.x', 'b.x', 'end']);
        assert.deepEqual(tail.texts(), ['a.x', 'a.b.x', 'a.y.z', 'end']);
        assert.deepEqual(exact.texts(), ['a', 'end']);
        assert.deepEqual(tail.msgs.map((m) => m.subject), [`${p}.a.x`, `${p}.a.b.x`, `${p}.a.y.z`, `${p}.a.end`]);
      });
    });

    it('a queue group gives each message to exactly one member; plain subscribers and other groups get every message', async () => {
      await withBus(async ({ bus, other, p }) => {
        const m1 = new Inbox();
        const m2 = new Inbox();
        const solo = new Inbox();
        const otherGroup = new Inbox();
        bus.subscribe(`${p}.work`, m1.handler, { queue: 'workers' });
        other.subscribe(`${p}.work`, m2.handler, { queue: 'workers' });
        other.subscribe(`${p}.work`, solo.handler);
        bus.subscribe(`${p}.work`, otherGroup.handler, { queue: 'auditors' });
        await Promise.all([bus.flush(), other.flush()]);
        const n = 60;
        for (let i = 0; i < n; i++) bus.publish(`${p}.work`, enc.encode(String(i)));
        await Promise.all([solo.wait(n), otherGroup.wait(n)]);
        await m1.until(() => m1.msgs.length + m2.msgs.length >= n, `${n} messages across the group`);
        const got = [...m1.texts(), ...m2.texts()].map(Number).sort((a, b) => a - b);
        assert.deepEqual(got, Array.from({ length: n }, (_, i) => i), 'each message exactly once across members');
        assert.ok(m1.msgs.length > 0 && m2.msgs.length > 0, `both members served (${m1.msgs.length}/${m2.msgs.length})`);
        assert.equal(solo.msgs.length, n);
        assert.equal(otherGroup.msgs.length, n);
      });
    });

    it('unsubscribe stops delivery to that subscription only', async () => {
      await withBus(async ({ bus, other, p }) => {
        const gone = new Inbox();
        const stays = new Inbox();
        const sub = other.subscribe(`${p}.u`, gone.handler);
        other.subscribe(`${p}.u`, stays.handler);
        await other.flush();
        bus.publish(`${p}.u`, enc.encode('before'));
        await Promise.all([gone.wait(1), stays.wait(1)]);
        sub.unsubscribe();
        sub.unsubscribe(); // idempotent
        await other.flush();
        bus.publish(`${p}.u`, enc.encode('after'));
        await stays.wait(2);
        assert.deepEqual(gone.texts(), ['before']);
        assert.deepEqual(stays.texts(), ['before', 'after']);
      });
    });

    it('request/reply carries data and headers both ways', async () => {
      await withBus(async ({ bus, other, p }) => {
        other.subscribe(`${p}.echo`, (m) => {
          other.respond(m, enc.encode(`echo:${text(m)}`), { 'x-seen': m.headers?.['x-req'] ?? 'none' });
        }, { queue: 'responders' });
        await other.flush();
        const reply = await bus.request(`${p}.echo`, enc.encode('hi'), { timeoutMs: WAIT_MS, headers: { 'x-req': 'r1' } });
        assert.equal(text(reply), 'echo:hi');
        assert.deepEqual(reply.headers, { 'x-seen': 'r1' });
        const again = await bus.request(`${p}.echo`, enc.encode('again'), { timeoutMs: WAIT_MS });
        assert.equal(text(again), 'echo:again');
        assert.deepEqual(again.headers, { 'x-seen': 'none' });
      });
    });

    it('a request nobody answers rejects with BusTimeoutError after its timeout', async () => {
      await withBus(async ({ bus, other, p }) => {
        const seen = new Inbox();
        other.subscribe(`${p}.silent`, seen.handler); // a responder that never replies
        await other.flush();
        const started = Date.now();
        await assert.rejects(bus.request(`${p}.silent`, enc.encode('?'), { timeoutMs: 300 }), (err: unknown) => {
          assert.ok(err instanceof BusTimeoutError, `got ${String(err)}`);
          assert.match(err.message, new RegExp(`${p}\\.silent`));
          return true;
        });
        assert.ok(Date.now() - started >= 250, 'not before the timeout');
        await seen.wait(1, 'the request to reach the silent subscriber');
        assert.ok(seen.msgs[0]!.reply !== undefined, 'requests carry a reply subject');
      });
    });

    it('a request with no subscriber rejects with BusNoRespondersError well before its timeout', async () => {
      await withBus(async ({ bus, p }) => {
        const started = Date.now();
        await assert.rejects(bus.request(`${p}.nobody`, enc.encode('?'), { timeoutMs: 10_000 }), (err: unknown) => {
          assert.ok(err instanceof BusNoRespondersError, `got ${String(err)}`);
          return true;
        });
        assert.ok(Date.now() - started < 8_000, 'failed fast instead of timing out');
      });
    });

    it('a throwing handler does not stop later deliveries (to it or to others)', async () => {
      await withBus(async ({ bus, other, p }) => {
        const seen: string[] = [];
        const later = new Inbox();
        other.subscribe(`${p}.boom`, (m) => {
          seen.push(text(m));
          throw new Error(`handler failure on ${text(m)}`);
        });
        other.subscribe(`${p}.boom`, later.handler);
        await other.flush();
        for (const s of ['1', '2', '3']) bus.publish(`${p}.boom`, enc.encode(s));
        await later.wait(3);
        assert.deepEqual(seen, ['1', '2', '3']);
        // The connection still works after the failures.
        other.subscribe(`${p}.ping`, (m) => other.respond(m, enc.encode('pong')));
        await other.flush();
        assert.equal(text(await bus.request(`${p}.ping`, new Uint8Array(0), { timeoutMs: WAIT_MS })), 'pong');
      });
    });

    it('flush resolves once earlier publishes are on their way', async () => {
      await withBus(async ({ bus, other, p }) => {
        const inbox = new Inbox();
        other.subscribe(`${p}.f`, inbox.handler);
        await other.flush();
        for (let i = 0; i < 100; i++) bus.publish(`${p}.f`, enc.encode(String(i)));
        await bus.flush();
        await bus.flush(); // repeatable
        await inbox.wait(100);
        assert.equal(inbox.msgs.length, 100);
      });
    });

    it('close is idempotent and stops deliveries; publish after close does not throw', async () => {
      const h = await make();
      try {
        const { bus } = h;
        const other = h.other ? await h.other() : bus;
        const p = `t${randomUUID().slice(0, 8)}`;
        const inbox = new Inbox();
        bus.subscribe(`${p}.c`, inbox.handler);
        await bus.flush();
        bus.publish(`${p}.c`, enc.encode('before'));
        await inbox.wait(1);
        await bus.close();
        await bus.close();
        bus.publish(`${p}.c`, enc.encode('from the closed bus'));
        if (other !== bus) {
          const sentinel = new Inbox();
          other.subscribe(`${p}.c`, sentinel.handler);
          await other.flush();
          other.publish(`${p}.c`, enc.encode('after'));
          await sentinel.wait(1);
        } else {
          await new Promise<void>((r) => setImmediate(r));
        }
        assert.deepEqual(inbox.texts(), ['before']);
      } finally {
        await h.close();
      }
    });
  });
}
