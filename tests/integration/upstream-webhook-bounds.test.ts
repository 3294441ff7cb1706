/**
 * Bounds on what one user's upstream traffic can hold at the router, in
 * standalone mode (gateway → memory bus → router → a real node:http
 * receiver): an upstream request's webhook POST ends when the client stops
 * waiting (not after LONGLINK_WEBHOOK_TIMEOUT_MS), requests in flight are
 * capped per user and per router (LL_UPSTREAM_OVERLOADED, answered at once),
 * and the memory webhook queue holds at most its bound of events (the rest
 * dropped and counted) while the receiver is down.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerFrame } from '../../protocol/index.js';
import type { Standalone } from '../../services/standalone/app.js';
import { mintToken } from '../../services/standalone/dev-token.js';
import { mustConnect, type TestClient } from '../helpers/client.js';
import { HoldingReceiver } from '../helpers/holding-receiver.js';
import { waitFor } from '../helpers/sdk-clients.js';
import { sleep, start, TEST_SECRET } from '../helpers/standalone.js';

const SECRET = 'whsec_' + 'a'.repeat(32);
type Reply = Extract<ServerFrame, { op: 'reply' }>;

const open: Array<{ close(): unknown }> = [];
after(async () => { for (const o of open.reverse()) await o.close(); });

async function standalone(url: string, env: Record<string, string> = {}): Promise<Standalone> {
  const s = await start({ LONGLINK_WEBHOOKS: JSON.stringify([{ name: 'app', url, events: ['upstream.message'], secrets: [SECRET] }]), ...env });
  open.push(s);
  return s;
}

async function client(s: Standalone, user: string, device = 'd1'): Promise<TestClient> {
  const c = await mustConnect(s.gatewayUrl, { token: await mintToken(TEST_SECRET, user, { device }) });
  open.push(c);
  await c.frame('hello');
  return c;
}

const ask = (c: TestClient, id: string, data: unknown, timeoutMs: number): void => c.send(JSON.stringify({ op: 'send', id, topic: 'chat', data, reply: true, timeoutMs }));
const replyOf = (c: TestClient, id: string, ms = 5000): Promise<Reply> => c.until(() => c.frames.find((f): f is Reply => f.op === 'reply' && f.id === id), ms, `reply ${id}`);
async function until(pred: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}
const outcome = (r: Reply): string => ('error' in r && r.error !== undefined ? r.error : JSON.stringify((r as { data: unknown }).data));

describe('upstream requests: the router holds nothing past the client\'s deadline, and caps what is in flight', () => {
  it('the webhook POST is aborted when the client\'s timeout passes, not after LONGLINK_WEBHOOK_TIMEOUT_MS (10 s)', async () => {
    const rx = await new HoldingReceiver().start();
    open.push({ close: () => rx.stop() });
    const s = await standalone(rx.url);
    const c = await client(s, 'alice');
    for (let i = 0; i < 5; i++) ask(c, `t${i}`, 'hold', 300);
    for (let i = 0; i < 5; i++) assert.equal(outcome(await replyOf(c, `t${i}`)), 'LL_UPSTREAM_TIMEOUT');
    assert.equal(rx.received, 5);
    // Before: all 5 stayed open at the receiver for the full 10 s attempt limit.
    await waitFor(() => rx.open === 0, 1500, 'the receiver\'s requests closed', () => `${rx.open} open`);
  });

  it('per user and per router caps refuse at once with LL_UPSTREAM_OVERLOADED; other users keep their share', async () => {
    const rx = await new HoldingReceiver().start();
    open.push({ close: () => rx.stop() });
    const s = await standalone(rx.url, { LONGLINK_WEBHOOK_UPSTREAM_MAX_PER_USER: '4', LONGLINK_WEBHOOK_UPSTREAM_MAX_IN_FLIGHT: '6' });
    // One user, two connections, 6 held requests: 4 reach the receiver, 2 are refused without waiting for their 5 s.
    const [a1, a2] = [await client(s, 'flood', 'd1'), await client(s, 'flood', 'd2')];
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) { ask(a1, `a${i}`, 'hold', 5000); ask(a2, `b${i}`, 'hold', 5000); }
    const replies = (): Reply[] => [...a1.frames, ...a2.frames].filter((f): f is Reply => f.op === 'reply');
    await waitFor(() => rx.open === 4 && replies().length === 2, 3000, 'four held at the receiver, two refused', () => `${rx.open} open, ${replies().length} replies`);
    const refused = replies();
    assert.deepEqual(refused.map(outcome), ['LL_UPSTREAM_OVERLOADED', 'LL_UPSTREAM_OVERLOADED']);
    assert.match(String((refused[0] as { message?: string }).message), /this user/);
    assert.ok(Date.now() - t0 < 2500, `refused at once (${Date.now() - t0} ms)`);
    assert.equal(rx.open, 4, 'the refused ones were never sent');
    // Another user still gets through, answered at once.
    const v = await client(s, 'victim');
    const tv = Date.now();
    ask(v, 'v0', 'now', 2000);
    assert.equal(outcome(await replyOf(v, 'v0')), '{"ok":true}');
    assert.ok(Date.now() - tv < 1500, `victim answered in ${Date.now() - tv} ms`);
    // The router's cap: 2 more held from a third user fill it (6), the next is refused for the router.
    const b = await client(s, 'other');
    for (let i = 0; i < 3; i++) ask(b, `o${i}`, 'hold', 5000);
    await waitFor(() => rx.open === 6, 3000, 'six held', () => `${rx.open} open`);
    const r = await replyOf(b, 'o2', 2000);
    assert.equal(outcome(r), 'LL_UPSTREAM_OVERLOADED');
    assert.match(String((r as { message?: string }).message), /at this router/);
    // Counted by the cap that refused them.
    const metrics = await (await fetch(`${s.apiUrl}/metrics`)).text();
    assert.match(metrics, /^longlink_router_upstream_refused_total\{reason="user_cap"\} 2$/m);
    assert.match(metrics, /^longlink_router_upstream_refused_total\{reason="router_cap"\} 1$/m);
  });
});

describe('the memory webhook queue is bounded while the receiver is down', () => {
  it('past LONGLINK_WEBHOOK_MEMORY_MAX_JOBS / _BYTES new events are dropped and counted, the depth stays at the bound', async () => {
    // A port nobody listens on: every attempt fails (connection refused) and is retried later.
    const gone = await new HoldingReceiver().start();
    const url = gone.url;
    await gone.stop();
    const s = await standalone(url, { LONGLINK_WEBHOOK_MEMORY_MAX_JOBS: '20', LONGLINK_WEBHOOK_MEMORY_MAX_BYTES: String(400_000), LONGLINK_WEBHOOK_RETRY_BASE_MS: '60000' });
    const state = (x: Standalone) => async (): Promise<{ depth: number; stats: { dropped: number; enqueued: number } }> =>
      ((await (await fetch(`${x.apiUrl}/v1/webhooks`, { headers: { authorization: `Bearer ${x.apiKey}` } })).json()) as { endpoints: Array<{ depth: number; stats: { dropped: number; enqueued: number } }> }).endpoints[0]!;
    const accounted = (x: Standalone, n: number) => async (): Promise<boolean> => { const st = await state(x)(); return st.stats.enqueued + st.stats.dropped === n; };
    const c = await client(s, 'flood');
    // By count: 40 small sends, 20 held.
    for (let i = 0; i < 40; i++) c.send(JSON.stringify({ op: 'send', id: `m${i}`, topic: 'chat', data: i }));
    await until(accounted(s, 40), 5000, 'all 40 accounted for');
    let st = await state(s)();
    assert.deepEqual([st.depth, st.stats.enqueued, st.stats.dropped], [20, 20, 20]);
    // By bytes: a fresh instance with the default job bound checks the byte bound alone.
    const s2 = await standalone(url, { LONGLINK_WEBHOOK_MEMORY_MAX_BYTES: String(200_000), LONGLINK_WEBHOOK_RETRY_BASE_MS: '60000' });
    const c2 = await client(s2, 'flood');
    const pad = 'x'.repeat(60_000);
    for (let i = 0; i < 10; i++) { c2.send(JSON.stringify({ op: 'send', id: `p${i}`, topic: 'chat', data: pad })); await sleep(5); }
    await until(accounted(s2, 10), 5000, 'all 10 accounted for');
    st = await state(s2)();
    assert.deepEqual([st.depth, st.stats.enqueued, st.stats.dropped], [3, 3, 7], 'three 60 KB bodies fit in 200,000 bytes');
  });

  it('one user holds at most its share (LONGLINK_WEBHOOK_USER_MAX_JOBS / _BYTES): past it its events are dropped, counted as user_share, and other users\' still enqueue', async () => {
    const gone = await new HoldingReceiver().start();
    const url = gone.url;
    await gone.stop();
    const s = await standalone(url, { LONGLINK_WEBHOOK_MEMORY_MAX_JOBS: '20', LONGLINK_WEBHOOK_USER_MAX_JOBS: '10', LONGLINK_WEBHOOK_USER_MAX_BYTES: '50000', LONGLINK_WEBHOOK_RETRY_BASE_MS: '60000' });
    const stats = async (): Promise<{ depth: number; stats: { dropped: number; enqueued: number; droppedShare: number } }> =>
      ((await (await fetch(`${s.apiUrl}/v1/webhooks`, { headers: { authorization: `Bearer ${s.apiKey}` } })).json()) as { endpoints: Array<{ depth: number; stats: { dropped: number; enqueued: number; droppedShare: number } }> }).endpoints[0]!;
    const flood = await client(s, 'flood');
    for (let i = 0; i < 40; i++) flood.send(JSON.stringify({ op: 'send', id: `f${i}`, topic: 'chat', data: i }));
    await until(async () => { const st = await stats(); return st.stats.enqueued + st.stats.dropped === 40; }, 5000, 'the flood accounted for');
    // The victim's events still enqueue although the flood came first (before: the flood filled the queue's 20 and the victim's were dropped).
    const victim = await client(s, 'victim');
    for (let i = 0; i < 5; i++) victim.send(JSON.stringify({ op: 'send', id: `v${i}`, topic: 'chat', data: i }));
    await until(async () => { const st = await stats(); return st.stats.enqueued + st.stats.dropped === 45; }, 5000, 'the victim accounted for');
    const st = await stats();
    assert.deepEqual([st.depth, st.stats.enqueued, st.stats.dropped, st.stats.droppedShare], [15, 15, 30, 30]);
    const metrics = await (await fetch(`${s.apiUrl}/metrics`)).text();
    assert.match(metrics, /^longlink_router_webhook_dropped_total\{endpoint="app",reason="user_share"\} 30$/m);
    assert.match(metrics, /^longlink_router_webhook_dropped_total\{endpoint="app",reason="queue"\} 0$/m);
  });
});
