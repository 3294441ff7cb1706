import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { MemoryBus } from '../../services/shared/bus/memory-bus.js';
import { encodeMsg } from '../../services/shared/bus/bus.js';
import { subjects as makeSubjects } from '../../services/shared/bus/subjects.js';
import { ManualClock } from '../../services/shared/clock.js';
import { MemoryInbox } from '../../services/router/stores/memory/inbox.js';
import { MemorySessions } from '../../services/router/stores/memory/sessions.js';
import { MemoryPresence } from '../../services/router/stores/memory/presence.js';
import type { Presence } from '../../services/router/core/presence.js';
import { Router } from '../../services/router/app.js';
import { startRouterHttp, type ApiServer, type RouterHttp } from '../../services/router/http-api.js';
import { silent } from '../helpers/log.js';

const KEY = 'test-key-0123456789abcdef';
const KEY2 = 'second-key-0123456789abcdef';

interface Server {
  base: string;
  http: RouterHttp;
  core: Router;
  bus: MemoryBus;
}

async function serve(server: ApiServer, o: { presence?: Presence; metrics?: boolean } = {}): Promise<Server> {
  const clock = new ManualClock(1000);
  const bus = new MemoryBus();
  const subjects = makeSubjects('t');
  const core = new Router({
    bus, subjects, clock, log: silent,
    stores: { inbox: new MemoryInbox({ clock }), sessions: new MemorySessions({ clock }), presence: o.presence ?? new MemoryPresence({ clock }) },
    options: { maxPushBytes: 1000, maxUsersPerPush: 3, maxBatch: 2 },
  });
  core.start();
  const http = await startRouterHttp({
    core: core.core, ready: () => core.ready, host: '127.0.0.1', port: 0, apiKeys: [KEY, KEY2], log: silent, server,
    limits: { maxBodyBytes: 4096 },
    ...(o.metrics ? { metrics: { contentType: 'text/plain; version=0.0.4', metrics: async () => 'longlink_up 1\n' } } : {}),
  });
  return { base: `http://127.0.0.1:${http.port}`, http, core, bus };
}

interface ErrorBody { error: { code: string; message: string } }

async function call(s: Server, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: unknown }> {
  const init: RequestInit = {
    method,
    headers: { authorization: `Bearer ${KEY}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  };
  const r = await fetch(s.base + path, init);
  const text = await r.text();
  return { status: r.status, headers: r.headers, json: text.startsWith('{') ? JSON.parse(text) : text };
}

const code = (r: { json: unknown }): string => (r.json as ErrorBody).error.code;
const message = (r: { json: unknown }): string => (r.json as ErrorBody).error.message;

// The same suite over both server adapters (http-node.ts, http-uws.ts).
for (const server of ['node', 'uws'] as const) {
  describe(`router HTTP API (${server})`, () => {
    let s: Server;
    before(async () => { s = await serve(server, { metrics: true }); });
    after(async () => { s.core.stop(); await s.http.close(); });

    it('serves healthz, readyz and metrics without an API key', async () => {
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        const r = await fetch(s.base + path);
        assert.equal(r.status, 200, path);
      }
      const m = await fetch(s.base + '/metrics');
      assert.equal(m.headers.get('content-type'), 'text/plain; version=0.0.4');
      assert.equal(await m.text(), 'longlink_up 1\n');
      const head = await fetch(s.base + '/healthz', { method: 'HEAD' });
      assert.deepEqual([head.status, head.headers.get('content-type'), await head.text()], [200, 'application/json; charset=utf-8', '']);
    });

    it('requires a valid API key on /v1', async () => {
      for (const authorization of [undefined, 'Bearer wrong', `Basic ${KEY}`, 'Bearer', `Bearer ${KEY}x`]) {
        const r = await fetch(s.base + '/v1/cluster', authorization !== undefined ? { headers: { authorization } } : {});
        assert.equal(r.status, 401, String(authorization));
        assert.equal(r.headers.get('www-authenticate'), 'Bearer');
        assert.equal(((await r.json()) as ErrorBody).error.code, 'LL_API_UNAUTHORIZED');
      }
      assert.equal((await call(s, 'GET', '/v1/cluster', undefined, { authorization: `bearer ${KEY2}` })).status, 200);
    });

    it('answers a single push with per-user results', async () => {
      const gw = makeSubjects('t');
      s.bus.publish(gw.presence, encodeMsg({ type: 'online', user: 'alice', device: 'phone', conn: 'c1', session: 's1', gateway: 'A', at: 5 }));
      await s.bus.flush();
      const r = await call(s, 'POST', '/v1/push', { users: ['alice', 'bob'], data: { text: 'hi' }, id: 'm-1' });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, {
        id: 'm-1',
        results: [
          { user: 'alice', seq: 1, id: 'm-1', status: 'sent', connections: 1 },
          { user: 'bob', seq: 1, id: 'm-1', status: 'offline', connections: 0 },
        ],
      });
      const one = await call(s, 'POST', '/v1/push', { user: 'bob', data: null, idempotency_key: 'k1' });
      assert.deepEqual((one.json as { results: unknown[] }).results, [{ user: 'bob', seq: 2, id: (one.json as { id: string }).id, status: 'offline', connections: 0 }]);
      const dup = await call(s, 'POST', '/v1/push', { user: 'bob', data: null, idempotency_key: 'k1' });
      assert.equal((dup.json as { results: Array<{ status: string; seq: number }> }).results[0]!.status, 'duplicate');
    });

    it('answers a batch with one outcome per message', async () => {
      const r = await call(s, 'POST', '/v1/push', { messages: [{ user: 'carol', data: 1, id: 'b1' }, { users: ['carol'], data: 2, id: 'b2' }] });
      assert.equal(r.status, 200);
      const out = r.json as { messages: Array<{ id: string; results: Array<{ seq: number }> }> };
      assert.deepEqual(out.messages.map((m) => [m.id, m.results[0]!.seq]), [['b1', 1], ['b2', 2]]);
    });

    it('answers the validation examples of docs/api.md exactly as written there', async () => {
      const md = readFileSync(new URL('../../../docs/api.md', import.meta.url), 'utf8');
      const section = md.slice(md.indexOf('### Validation messages'), md.indexOf('## GET /v1/presence'));
      const examples = [...section.matchAll(/-d '([^']+)'\n# (\{.*\})$/gm)];
      assert.ok(examples.length >= 3, `found ${examples.length} examples`);
      for (const [, body, answer] of examples) {
        const r = await call(s, 'POST', '/v1/push', JSON.parse(body!));
        assert.equal(r.status, 400, body);
        assert.deepEqual(r.json, JSON.parse(answer!), body);
      }
    });

    it('names the offending field in validation errors', async () => {
      const cases: Array<[unknown, RegExp]> = [
        [{ user: 'a' }, /^Request body failed validation: data: is required/],
        [{ user: 'a', users: ['b'], data: 1 }, /users: give exactly one of "user" or "users"/],
        [{ data: 1 }, /users: give exactly one of "user" or "users"/],
        [{ user: 'x'.repeat(129), data: 1 }, /user: must be at most 128 characters \(user id\)/],
        [{ user: '', data: 1 }, /user: must not be empty \(user id\)/],
        // Identifier rules (protocol/identifiers.ts): what the gateway would refuse in a token, the API refuses too.
        [{ user: '\ud800victim', data: 1 }, /user: must be well-formed Unicode \(lone surrogate\) \(user id\)/],
        [{ users: ['ok', 'dave smith'], data: 1 }, /users\[1\]: must not contain whitespace \(user id\)/],
        [{ user: 'a\u0000b', data: 1 }, /user: must not contain control characters \(user id\)/],
        [{ user: 'a', data: 1, id: 'm\u001b[31m' }, /id: must not contain control characters \(message id\)/],
        [{ user: 'a', data: 1, idempotency_key: '\udfff' }, /idempotency_key: must be well-formed Unicode/],
        [{ users: ['a', 'b', 'c', 'd'], data: 1 }, /users: must list at most 3 users/],
        [{ users: ['a', 7], data: 1 }, /users\[1\]: must be a string \(user id\)/],
        [{ user: 'a', data: 1, extra: true }, /body: Unrecognized key: "extra"/],
        [{ messages: [{ user: 'a', data: 1 }, { user: 'a' }] }, /messages\[1\]\.data: is required/],
        [{ messages: [1, 2, 3] }, /messages: must hold at most 2 messages/],
        [{ messages: [] }, /messages: must hold at least one message/],
        [[1, 2], /body: must be a JSON object/],
        ['"text"', /body: must be a JSON object/],
      ];
      for (const [body, re] of cases) {
        const r = await call(s, 'POST', '/v1/push', body);
        assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
        assert.equal(code(r), 'LL_API_VALIDATION');
        assert.match(message(r), re);
      }
    });

    it('rejects bad JSON, wrong content types, methods and paths', async () => {
      const bad = await call(s, 'POST', '/v1/push', '{"user": "a",');
      assert.deepEqual([bad.status, code(bad)], [400, 'LL_API_BAD_JSON']);
      const empty = await call(s, 'POST', '/v1/push', '');
      assert.deepEqual([empty.status, code(empty)], [400, 'LL_API_BAD_JSON']);
      const text = await call(s, 'POST', '/v1/push', 'hello', { 'content-type': 'text/plain' });
      assert.deepEqual([text.status, code(text)], [415, 'LL_API_UNSUPPORTED_MEDIA']);
      const charset = await call(s, 'POST', '/v1/push', { user: 'a', data: 1 }, { 'content-type': 'Application/JSON; charset=utf-8' });
      assert.equal(charset.status, 200);
      const get = await call(s, 'GET', '/v1/push');
      assert.deepEqual([get.status, code(get), get.headers.get('allow')], [405, 'LL_API_METHOD', 'POST']);
      const del = await call(s, 'DELETE', '/healthz');
      assert.deepEqual([del.status, del.headers.get('allow')], [405, 'GET, HEAD']);
      for (const path of ['/v2/push', '/v1/presence/', '/v1/presence/a/b', '/', '/v1/pushx']) {
        const r = await call(s, 'GET', path);
        assert.deepEqual([r.status, code(r)], [404, 'LL_NOT_FOUND'], path);
      }
    });

    it('answers 413 for a payload over maxPushBytes', async () => {
      const r = await call(s, 'POST', '/v1/push', { user: 'a', data: 'x'.repeat(1200) });
      assert.deepEqual([r.status, code(r)], [413, 'LL_API_TOO_LARGE']);
      assert.match(message(r), /data: serialised size 1202 bytes exceeds the 1000-byte limit/);
    });

    it('answers 413 past maxBodyBytes without reading the rest', async () => {
      const big = JSON.stringify({ user: 'a', data: 'x'.repeat(5000) });
      const r = await call(s, 'POST', '/v1/push', big);
      assert.deepEqual([r.status, code(r)], [413, 'LL_API_TOO_LARGE']);
      // Chunked, no Content-Length: the limit is enforced while reading.
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(s.base + '/v1/push', { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        for (let i = 0; i < 10; i++) req.write('x'.repeat(1000));
        req.end();
      });
      assert.equal(status, 413);
    });

    it('reports presence by user id (percent-encoded in the path)', async () => {
      const gw = makeSubjects('t');
      s.bus.publish(gw.presence, encodeMsg({ type: 'online', user: 'dave.smith/ü1', device: 'tablet', conn: 'c9', session: 's9', gateway: 'B', at: 7 }));
      await s.bus.flush();
      const r = await call(s, 'GET', `/v1/presence/${encodeURIComponent('dave.smith/ü1')}`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { user: 'dave.smith/ü1', online: true, connections: [{ conn: 'c9', device: 'tablet', gateway: 'B', since: 7 }] });
      const nobody = await call(s, 'GET', '/v1/presence/nobody');
      assert.deepEqual(nobody.json, { user: 'nobody', online: false, connections: [] });
      const long = await call(s, 'GET', `/v1/presence/${'x'.repeat(129)}`);
      assert.deepEqual([long.status, code(long)], [400, 'LL_API_VALIDATION']);
      const bad = await call(s, 'GET', '/v1/presence/%E0%A4%A');
      assert.deepEqual([bad.status, code(bad)], [400, 'LL_API_VALIDATION']);
      // A lone surrogate cannot be percent-encoded as UTF-8 (%ED%A0%80 is not valid UTF-8), and control characters are refused.
      for (const path of ['%ED%A0%80victim', 'a%00b', 'a%20b']) {
        const r2 = await call(s, 'GET', `/v1/presence/${path}`);
        assert.deepEqual([r2.status, code(r2)], [400, 'LL_API_VALIDATION'], path);
      }
    });

    it('kicks and logs out', async () => {
      const r = await call(s, 'POST', '/v1/kick', { user: 'alice' });
      assert.deepEqual([r.status, r.json], [200, { type: 'kick', user: 'alice', gateways: 1, connections: 1 }]);
      const l = await call(s, 'POST', '/v1/kick', { user: 'alice', device: 'tablet', type: 'logout' });
      assert.deepEqual(l.json, { type: 'logout', user: 'alice', device: 'tablet', gateways: 0, connections: 0 });
      const bad = await call(s, 'POST', '/v1/kick', { user: 'alice', type: 'ban' });
      assert.equal(bad.status, 400);
      assert.match(message(bad), /type: must be "kick" or "logout"/);
      const dev = await call(s, 'POST', '/v1/kick', { user: 'alice', device: 'no spaces' });
      assert.match(message(dev), /device: must be 1-64 characters/);
    });

    it('lists the cluster', async () => {
      const r = await call(s, 'GET', '/v1/cluster');
      assert.equal(r.status, 200);
      const ids = (r.json as { gateways: Array<{ gateway: string }> }).gateways.map((g) => g.gateway);
      assert.deepEqual(ids, ['A', 'B']);
    });
  });

  describe(`router HTTP API failure modes (${server})`, () => {
    it('answers 503 LL_STORE_UNAVAILABLE when a store fails, and readyz 503 once stopped', async () => {
      const broken = new MemoryPresence({ clock: new ManualClock() });
      broken.lookup = () => Promise.reject(new Error('ECONNREFUSED'));
      const s = await serve(server, { presence: broken });
      try {
        const r = await call(s, 'GET', '/v1/presence/alice');
        assert.deepEqual([r.status, code(r)], [503, 'LL_STORE_UNAVAILABLE']);
        const p = await call(s, 'POST', '/v1/push', { user: 'alice', data: 1 });
        assert.deepEqual([p.status, code(p)], [503, 'LL_STORE_UNAVAILABLE']);
        assert.equal((await fetch(s.base + '/metrics')).status, 404, 'no metrics configured');
        s.core.stop();
        assert.equal((await fetch(s.base + '/readyz')).status, 503);
      } finally {
        s.core.stop();
        await s.http.close();
      }
    });
  });

  describe(`GET /v1/users/:user/inbox (${server})`, () => {
    let s: Server;
    before(async () => {
      s = await serve(server);
      for (let i = 1; i <= 5; i++) await s.core.core.push({ users: ['ivy'], data: { n: i, text: 'é "q"' }, id: `m${i}` });
    });
    after(async () => { s.core.stop(); await s.http.close(); });
    type View = { user: string; latestSeq: number; pushes: Array<{ seq: number; id: string; ts: number; data: unknown }>; more: boolean };

    it('returns what the inbox holds after since, bounded by limit, with data as JSON', async () => {
      const all = await call(s, 'GET', '/v1/users/ivy/inbox');
      assert.equal(all.status, 200);
      const v = all.json as View;
      assert.deepEqual([v.user, v.latestSeq, v.more], ['ivy', 5, false]);
      assert.deepEqual(v.pushes.map((p) => [p.seq, p.id]), [[1, 'm1'], [2, 'm2'], [3, 'm3'], [4, 'm4'], [5, 'm5']]);
      assert.deepEqual(v.pushes[0]!.data, { n: 1, text: 'é "q"' });
      assert.equal(typeof v.pushes[0]!.ts, 'number', 'the router\'s accept time');
      const page = (await call(s, 'GET', '/v1/users/ivy/inbox?since=1&limit=2')).json as View;
      assert.deepEqual([page.pushes.map((p) => p.seq), page.more], [[2, 3], true]);
      const rest = (await call(s, 'GET', '/v1/users/ivy/inbox?since=3&limit=500')).json as View;
      assert.deepEqual([rest.pushes.map((p) => p.seq), rest.more], [[4, 5], false]);
      const none = (await call(s, 'GET', `/v1/users/${encodeURIComponent('nobody/ü')}/inbox`)).json as View;
      assert.deepEqual(none, { user: 'nobody/ü', latestSeq: 0, pushes: [], more: false });
    });

    it('acked pushes are gone: the inbox holds what some known device has not acked', async () => {
      await s.core.events.applyAcks([['ivy', 'phone', 2]]);
      const v = (await call(s, 'GET', '/v1/users/ivy/inbox')).json as View;
      assert.deepEqual([v.latestSeq, v.pushes.map((p) => p.seq)], [5, [3, 4, 5]]);
    });

    it('refuses bad parameters with LL_API_VALIDATION naming them, and needs a key', async () => {
      const cases: Array<[string, string]> = [
        ['since=-1', 'since: must be a non-negative integer (a seq)'],
        ['since=1.5', 'since: must be a non-negative integer (a seq)'],
        ['since=99999999999999999', 'since: must be a non-negative integer (a seq)'],
        ['limit=0', 'limit: must be an integer from 1 to 500'],
        ['limit=501', 'limit: must be an integer from 1 to 500'],
        ['limit=', 'limit: must be an integer from 1 to 500'],
        ['after=3', 'after: unknown query parameter (use since and limit)'],
        ['since=1&since=2', 'since: given more than once'],
      ];
      for (const [q, msg] of cases) {
        const r = await call(s, 'GET', `/v1/users/ivy/inbox?${q}`);
        assert.deepEqual([r.status, code(r), message(r)], [400, 'LL_API_VALIDATION', `Request body failed validation: ${msg}`], q);
      }
      const badUser = await call(s, 'GET', '/v1/users/dave%20smith/inbox');
      assert.deepEqual([badUser.status, code(badUser)], [400, 'LL_API_VALIDATION']);
      const noKey = await fetch(s.base + '/v1/users/ivy/inbox');
      assert.equal(noKey.status, 401);
      assert.equal((await call(s, 'POST', '/v1/users/ivy/inbox', {})).status, 405);
      assert.equal((await call(s, 'GET', '/v1/users/ivy/outbox')).status, 404);
      assert.equal((await call(s, 'GET', '/v1/users/a/b/inbox')).status, 404);
    });
  });
}
