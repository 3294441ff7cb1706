/**
 * Attack cases against the push API: poison pushes (data a conforming client
 * must reject), bodies over the limit sent chunked, `Expect: 100-continue`
 * without a valid key, batches large enough to stall the event loop, and
 * fuzzed push bodies. Real HTTP server, in-memory stores.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { MemoryBus } from '../../services/shared/bus/memory-bus.js';
import { decodeMsg, encodeMsg } from '../../services/shared/bus/bus.js';
import { subjects as makeSubjects } from '../../services/shared/bus/subjects.js';
import { ManualClock } from '../../services/shared/clock.js';
import { MAX_DATA_DEPTH, decodeServerFrame } from '../../protocol/codec.js';
import { MemoryInbox } from '../../services/router/stores/memory/inbox.js';
import { MemorySessions } from '../../services/router/stores/memory/sessions.js';
import { MemoryPresence } from '../../services/router/stores/memory/presence.js';
import { Router } from '../../services/router/app.js';
import { startRouterHttp, type ApiServer, type RouterHttp } from '../../services/router/http-api.js';
import { Rand } from '../../loadtest/lib/rand.js';

import { silent } from '../helpers/log.js';
const KEY = 'abuse-key-0123456789abcdef';
const MAX_BODY = 16_384;

/** `[[[…1…]]]` nested `depth` levels deep, as JSON text (JSON.stringify itself overflows the stack at a few thousand levels). */
const nestedText = (depth: number): string => '['.repeat(depth) + '1' + ']'.repeat(depth);
const nested = (depth: number): unknown => JSON.parse(nestedText(depth));

interface Server { port: number; http: RouterHttp; router: Router; core: Router['core']; bus: MemoryBus; inbox: MemoryInbox }

async function serve(o: { maxUsersPerPush?: number; maxBatch?: number; server?: ApiServer; maxBody?: number } = {}): Promise<Server> {
  const clock = new ManualClock(1000);
  const bus = new MemoryBus();
  const inbox = new MemoryInbox({ clock, maxLen: 100_000 });
  const router = new Router({
    bus, subjects: makeSubjects('t'), clock, log: silent,
    stores: { inbox, sessions: new MemorySessions({ clock }), presence: new MemoryPresence({ clock }) },
    options: { maxPushBytes: 100_000, maxUsersPerPush: o.maxUsersPerPush ?? 10, maxBatch: o.maxBatch ?? 10 },
  });
  router.start();
  const http = await startRouterHttp({ core: router.core, channels: router.channels, ready: () => router.ready, host: '127.0.0.1', port: 0, apiKeys: [KEY], log: silent, limits: { maxBodyBytes: o.maxBody ?? MAX_BODY }, server: o.server ?? 'node' });
  return { port: http.port, http, router, core: router.core, bus, inbox };
}

const post = async (s: Server, body: unknown | string): Promise<{ status: number; json: { error?: { code: string; message: string } } }> => {
  const r = await fetch(`http://127.0.0.1:${s.port}/v1/push`, {
    method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: r.status, json: await r.json() as { error?: { code: string; message: string } } };
};

/** Raw HTTP/1.1 over one socket: writes `parts` (with a pause between them), collects everything the server sends until it closes or `untilMs`. */
function raw(port: number, parts: string[], untilMs = 1500, pauseMs = 5): Promise<{ text: string; error: string | undefined }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let text = '';
    let error: string | undefined;
    sock.on('data', (d) => { text += d.toString('latin1'); });
    sock.on('error', (e) => { error = e.message; });
    const finish = (): void => { sock.destroy(); resolve({ text, error }); };
    const timer = setTimeout(finish, untilMs);
    sock.on('close', () => { clearTimeout(timer); resolve({ text, error }); });
    void (async () => {
      for (const p of parts) {
        if (sock.destroyed) return;
        sock.write(p);
        await new Promise((r) => setTimeout(r, pauseMs));
      }
    })();
  });
}

describe('push API abuse: poison pushes', () => {
  let s: Server;
  before(async () => { s = await serve(); });
  after(async () => { s.router.stop(); await s.http.close(); });

  it(`refuses data nested deeper than the protocol's ${MAX_DATA_DEPTH} levels with 400, accepts exactly ${MAX_DATA_DEPTH}`, async () => {
    const ok = await post(s, { user: 'victim', data: nested(MAX_DATA_DEPTH) });
    assert.equal(ok.status, 200);
    // What the client decoder does with it: accepted.
    const frame = JSON.stringify({ op: 'push', seq: 1, id: 'm', ts: 1, data: nested(MAX_DATA_DEPTH) });
    assert.equal(decodeServerFrame(frame, false).ok, true);
    for (const depth of [MAX_DATA_DEPTH + 1, 4900]) {
      const r = await post(s, `{"user":"victim","data":{"wrap":${nestedText(depth - 1)}}}`);
      assert.equal(r.status, 400, `depth ${depth}`);
      assert.equal(r.json.error!.code, 'LL_API_VALIDATION');
      assert.match(r.json.error!.message, new RegExp(`data: nests deeper than ${MAX_DATA_DEPTH} levels`));
      // A conforming client would have had to reject it.
      assert.equal(decodeServerFrame(`{"op":"push","seq":2,"id":"m","ts":1,"data":{"wrap":${nestedText(depth - 1)}}}`, false).ok, false);
    }
    const batch = await post(s, { messages: [{ user: 'victim', data: 1 }, { user: 'victim', data: nested(100) }] });
    assert.equal(batch.status, 400);
    assert.match(batch.json.error!.message, /messages\[1\]\.data: nests deeper/);
    assert.deepEqual((await s.inbox.since('victim', 0, 10)).map((r) => r.seq), [1], 'nothing of a refused request was stored');
  });

  it('publish and broadcast refuse data nested thousands deep with 400, not a 500 from the serialiser', async () => {
    for (const path of ['/v1/publish', '/v1/broadcast']) {
      for (const depth of [MAX_DATA_DEPTH + 1, 8000]) { // 8,000 levels: the body stays under the 16 KiB limit
        const body = `{${path === '/v1/publish' ? '"channel":"room:1",' : ''}"data":${nestedText(depth)}}`;
        const r = await fetch(`http://127.0.0.1:${s.port}${path}`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body });
        const j = await r.json() as { error?: { code: string } };
        assert.equal(r.status, 400, `${path} depth ${depth}`);
        assert.equal(j.error?.code, 'LL_API_VALIDATION');
      }
    }
  });

  it('refuses the same push sent as a bus push request, and from code', async () => {
    const m = await s.bus.request(makeSubjects('t').push, encodeMsg({ user: 'victim', data: nested(65) }), { timeoutMs: 1000 });
    assert.equal(decodeMsg<{ error: { code: string } }>(m.data)!.error.code, 'LL_API_VALIDATION');
    await assert.rejects(s.core.push({ users: ['victim'], data: nested(65) }), /nests deeper than 64 levels/);
  });
});

// Over both server adapters (http-node.ts, http-uws.ts).
for (const server of ['node', 'uws'] as const) {
  describe(`push API abuse: HTTP (${server})`, () => {
    let s: Server;
    before(async () => { s = await serve({ server }); });
    after(async () => { s.router.stop(); await s.http.close(); });

    it('a chunked body over the limit gets a readable 413 (no reset) and the connection stays usable', async () => {
      const head = `POST /v1/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
      const chunk = 'x'.repeat(1000);
      const parts = [head, ...Array.from({ length: 40 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`), '0\r\n\r\n',
        'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'];
      const r = await raw(s.port, parts, 1500);
      assert.equal(r.error, undefined, `no socket error (${r.error})`);
      assert.match(r.text, /^HTTP\/1\.1 413 /);
      assert.match(r.text, /"code":"LL_API_TOO_LARGE"/);
      assert.match(r.text, /HTTP\/1\.1 200 OK[\s\S]*"status":"ok"/, 'the next request on the same connection is answered');
    });

    it('a chunked body that goes on past 8 × the limit gets its 413, then the connection is cut (not drained forever)', async () => {
      const head = `POST /v1/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
      const chunk = 'x'.repeat(4000);
      let sent = 0;
      const r = await new Promise<{ text: string; closedAfter: number }>((resolve) => {
        const sock = net.connect(s.port, '127.0.0.1');
        let text = '';
        sock.on('data', (d) => { text += d.toString('latin1'); });
        sock.on('error', () => undefined);
        const timer = setInterval(() => {
          if (sock.destroyed || sent > 40 * MAX_BODY) { clearInterval(timer); sock.destroy(); return; }
          sock.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
          sent += chunk.length;
        }, 2);
        sock.on('close', () => { clearInterval(timer); resolve({ text, closedAfter: sent }); });
        sock.write(head);
      });
      assert.match(r.text, /^HTTP\/1\.1 413 /);
      assert.match(r.text, /"code":"LL_API_TOO_LARGE"/);
      assert.ok(r.closedAfter <= 40 * MAX_BODY, `the server cut the connection (after ${r.closedAfter} bytes sent; cap ${8 * MAX_BODY})`);
    });

    it('a body the client cut off before its last byte is never handled (no push stored without an answer)', async () => {
      const body = JSON.stringify({ user: 'cut-off', data: 1 }); // valid JSON on its own: only the length says it is partial
      const head = `POST /v1/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n`;
      const r = await raw(s.port, [head + body], 200); // the client gives up: destroyed after 200 ms
      assert.equal(r.text, '', 'no answer before the body was complete');
      await new Promise((res) => setTimeout(res, 200));
      assert.equal(await s.inbox.latestSeq('cut-off'), 0, 'nothing stored for the cut-off body');
      const whole = await post(s, { user: 'cut-off', data: 2 });
      assert.equal(whole.status, 200, 'a whole request afterwards is handled');
      assert.equal(await s.inbox.latestSeq('cut-off'), 1);
    });

    it('sends no 100 Continue before the API key is checked; a valid request gets it, then its answer', async () => {
      const body = JSON.stringify({ user: 'u', data: 1 });
      const req = (key: string): string => `POST /v1/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`;
      // uWS writes `100 Continue` itself before any handler runs (docs/api.md): the refusal leaves in the same write, and the connection closes unread.
      const invitedFirst = server === 'uws' ? 'HTTP\\/1\\.1 100 Continue\r\n\r\n' : '';
      const first = await new Promise<string>((resolve) => {
        const sock = net.connect(s.port, '127.0.0.1', () => sock.write(req('wrong-key-0123456789')));
        sock.once('data', (d) => { sock.destroy(); resolve(d.toString('latin1')); });
        sock.on('error', () => resolve(''));
      });
      assert.match(first, /^(HTTP\/1\.1 100 Continue\r\n\r\n)?HTTP\/1\.1 401 [^]*"code":"LL_API_UNAUTHORIZED"/, `the first bytes the client reads already hold the refusal: ${first.slice(0, 60)}`);
      const bad = await raw(s.port, [req('wrong-key-0123456789')], 500);
      assert.match(bad.text, new RegExp(`^${invitedFirst}HTTP\\/1\\.1 401 `), bad.text.slice(0, 40));
      if (server === 'node') assert.doesNotMatch(bad.text, /100 Continue/);
      assert.match(bad.text, /connection: close/i, 'the refused body may still come: the connection is not reused');
      const tooBig = await raw(s.port, [req(KEY).replace(`Content-Length: ${body.length}`, `Content-Length: ${MAX_BODY + 1}`)], 500);
      assert.match(tooBig.text, new RegExp(`^${invitedFirst}HTTP\\/1\\.1 413 `));
      if (server === 'node') assert.doesNotMatch(tooBig.text, /100 Continue/);
      const good = await new Promise<string>((resolve) => {
        const sock = net.connect(s.port, '127.0.0.1', () => sock.write(req(KEY)));
        let text = '';
        sock.on('data', (d) => {
          text += d.toString();
          if (text === 'HTTP/1.1 100 Continue\r\n\r\n') sock.write(body);
          if (text.includes('"results"')) { sock.destroy(); resolve(text); }
        });
        setTimeout(() => { sock.destroy(); resolve(text); }, 2000);
      });
      assert.match(good, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    });
  });
}

describe('push API abuse: maximum-size batches', () => {
  for (const server of ['node', 'uws'] as const) {
    it(`a maximum batch's answer (100,000 results, several MB, written in slices) arrives whole over HTTP (${server})`, async () => {
      const s = await serve({ maxUsersPerPush: 1000, maxBatch: 100, server, maxBody: 1024 * 1024 });
      try {
        const messages = Array.from({ length: 100 }, (_, i) => ({ users: Array.from({ length: 1000 }, (_u, j) => `u${j}`), data: { i }, id: `m${i}` }));
        const r = await fetch(`http://127.0.0.1:${s.port}/v1/push`, {
          method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ messages }),
        });
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('content-length'), null, 'chunked');
        const text = await r.text();
        assert.ok(text.length > 4_000_000, `${text.length} characters`);
        const out = JSON.parse(text) as { messages: Array<{ id: string; results: Array<{ user: string; seq: number }> }> };
        assert.equal(out.messages.length, 100);
        assert.deepEqual(out.messages.map((m) => m.results.length), Array.from({ length: 100 }, () => 1000));
        assert.deepEqual([out.messages[99]!.id, out.messages[99]!.results[999]], ['m99', { ...out.messages[99]!.results[999]!, user: 'u999', seq: 100 }]);
      } finally {
        s.router.stop();
        await s.http.close();
      }
    });
  }

  it('a maximum batch (100 messages × 1,000 users) yields the event loop while its store calls are issued', async () => {
    const s = await serve({ maxUsersPerPush: 1000, maxBatch: 100 });
    try {
      let appends = 0;
      const append = s.inbox.append.bind(s.inbox);
      s.inbox.append = (...a) => { appends++; return append(...a); };
      const messages = Array.from({ length: 100 }, (_, i) => ({ users: Array.from({ length: 1000 }, (_u, j) => `u${(i + j) % 5000}`), data: { i } }));
      const body = JSON.stringify({ messages });
      assert.ok(body.length < 1024 * 1024, `${body.length} bytes: within the default body limit`);
      const parsed = s.core.parsePush(JSON.parse(body));
      assert.ok(parsed.ok && parsed.value.kind === 'batch');
      let seenAtFirstTurn = -1;
      const done = s.core.pushValidated(parsed.value.pushes);
      setImmediate(() => { seenAtFirstTurn = appends; });
      const out = await done;
      assert.equal(out.length, 100);
      assert.equal(appends, 100_000);
      assert.ok(seenAtFirstTurn > 0 && seenAtFirstTurn < 100_000, `another callback ran after ${seenAtFirstTurn} of 100,000 store calls`);
    } finally {
      s.router.stop();
      await s.http.close();
    }
  });

  it('pushes to users of a batch still being issued keep per-user seq order', async () => {
    const s = await serve({ maxUsersPerPush: 1000, maxBatch: 100 });
    try {
      const messages = Array.from({ length: 10 }, (_, i) => ({ users: Array.from({ length: 1000 }, (_u, j) => `u${j}`), data: { i } }));
      const parsed = s.core.parsePush({ messages });
      assert.ok(parsed.ok && parsed.value.kind === 'batch');
      const big = s.core.pushValidated(parsed.value.pushes);
      const small = s.core.push({ users: ['u999'], data: 'after' });
      const [, one] = await Promise.all([big, small]);
      assert.equal(one.results[0]!.seq, 11, 'the later push gets the later seq');
    } finally {
      s.router.stop();
      await s.http.close();
    }
  });
});

describe('push API abuse: fuzzed bodies', () => {
  it('parsePush never throws and only ever answers 400 or 413 for 20,000 random bodies', () => {
    const clock = new ManualClock(1000);
    const { core } = new Router({
      bus: new MemoryBus(), subjects: makeSubjects('t'), clock, log: silent,
      stores: { inbox: new MemoryInbox({ clock }), sessions: new MemorySessions({ clock }), presence: new MemoryPresence({ clock }) },
      options: { maxPushBytes: 200, maxUsersPerPush: 3, maxBatch: 3 },
    });
    const r = new Rand(13);
    const keys = ['user', 'users', 'data', 'id', 'await_ms', 'idempotency_key', 'messages', 'extra', '__proto__', 'constructor'];
    const value = (depth: number): unknown => {
      switch (r.int(depth > 70 ? 6 : 9)) {
        case 0: return null;
        case 1: return r.chance(0.5);
        case 2: return r.pick([0, -1, 1.5, Infinity, 30_001, Number.MAX_SAFE_INTEGER + 2, NaN]);
        case 3: return 'x'.repeat(r.pick([0, 1, 128, 129, 300]));
        case 4: return '\ud800' + String.fromCharCode(r.int(32));
        case 5: return r.pick(['u', 'v', 'w']);
        case 6: return Array.from({ length: r.int(5) }, () => value(depth + 1));
        case 7: return Object.fromEntries(Array.from({ length: r.int(5) }, () => [r.pick(keys), value(depth + 1)]));
        default: return r.chance(0.3) ? nested(r.range(60, 70)) : { messages: Array.from({ length: r.int(5) }, () => value(depth + 1)) };
      }
    };
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const body = r.chance(0.5) ? { user: r.pick(['u', 'v']), data: value(0), ...(r.chance(0.3) ? { [r.pick(keys)]: value(0) } : {}) } : value(0);
      const out = core.parsePush(body);
      if (out.ok) {
        accepted++;
        const pushes = out.value.kind === 'single' ? [out.value.push] : out.value.pushes;
        for (const p of pushes) {
          assert.ok(p.users.length >= 1 && p.users.length <= 3, 'users within limits');
          assert.ok(Buffer.byteLength(p.data) <= 200, 'data within maxPushBytes');
          assert.equal(decodeServerFrame(`{"op":"push","seq":1,"id":"m","ts":1,"data":${p.data}}`, false).ok, true, 'a client accepts every accepted push');
        }
      } else {
        assert.ok([400, 413].includes(out.error.status), `status ${out.error.status}`);
        assert.ok(out.message.length > 0, 'the error names what is wrong');
      }
    }
    assert.ok(accepted > 100, `some bodies are valid (${accepted})`);
  });
});
