/**
 * Kept-alive API connections and the server's idle close (http-uws.ts KEEP_ALIVE_HINT).
 *
 * uWS closes an HTTP connection idle for 8-12 s (10 s on its 4 s timer sweep) and used to say nothing about it:
 * a client pool that kept the connection and reused it just after the close arrived, while its event loop was
 * busy, wrote the request into a closed socket (ECONNRESET). The bench's publisher lost 41-56 of 10,000
 * publishes that way between two phases. Every answer that keeps the connection open now announces
 * `Keep-Alive: timeout=5`, as node:http does, and a pool that reads it (Node's http.Agent with a timeout,
 * undici) drops the connection before the server can.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { MemoryBus } from '../../services/shared/bus/memory-bus.js';
import { subjects as makeSubjects } from '../../services/shared/bus/subjects.js';
import { ManualClock } from '../../services/shared/clock.js';
import { MemoryInbox } from '../../services/router/stores/memory/inbox.js';
import { MemorySessions } from '../../services/router/stores/memory/sessions.js';
import { MemoryPresence } from '../../services/router/stores/memory/presence.js';
import { Router } from '../../services/router/app.js';
import { startRouterHttp, type ApiServer, type RouterHttp } from '../../services/router/http-api.js';
import { silent } from '../helpers/log.js';

const KEY = 'test-key-0123456789abcdef';

async function serve(server: ApiServer): Promise<{ base: string; http: RouterHttp; core: Router }> {
  const clock = new ManualClock(1000);
  const core = new Router({
    bus: new MemoryBus(), subjects: makeSubjects('t'), clock, log: silent,
    stores: { inbox: new MemoryInbox({ clock }), sessions: new MemorySessions({ clock }), presence: new MemoryPresence({ clock }) },
  });
  core.start();
  const http = await startRouterHttp({ core: core.core, ready: () => core.ready, host: '127.0.0.1', port: 0, apiKeys: [KEY], log: silent, server, limits: { maxBodyBytes: 4096 } });
  return { base: `http://127.0.0.1:${http.port}`, http, core };
}

/**
 * A client in its own process (its event loop must stall while the server's keeps running): one call on a
 * kept-alive node:http Agent with a 30 s socket timeout (Node's pool lowers it to the server's hint less 1 s,
 * and keeps an idle connection forever without a timeout of its own, hint or not), idle, then its loop busy from 7.5 s to 12.5 s (across every moment uWS may close the
 * idle connection, 8-12 s), then a second call at once, before the loop reads anything. Prints that call's outcome.
 */
const CLIENT = `
import http from 'node:http';
const [base, key] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1, timeout: 30000 });
const call = () => new Promise((resolve) => {
  const req = http.request(base + '/v1/cluster', { agent, headers: { authorization: 'Bearer ' + key } }, (res) => { res.resume(); res.on('end', () => resolve(String(res.statusCode))); });
  req.on('error', (e) => resolve('error ' + e.code));
  req.end();
});
const first = await call();
await new Promise((r) => setTimeout(r, 7500));
const t = Date.now();
while (Date.now() - t < 5000);
console.log(JSON.stringify([first, await call()]));
process.exit(0);
`;

function runClient(base: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', CLIENT, base, KEY], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += String(d); });
    p.on('error', reject);
    p.on('exit', () => { try { resolve(JSON.parse(out) as string[]); } catch { reject(new Error(`client printed ${JSON.stringify(out)}`)); } });
  });
}

for (const server of ['node', 'uws'] as const) {
  describe(`router HTTP API keep-alive (${server})`, () => {
    let s: Awaited<ReturnType<typeof serve>>;
    before(async () => { s = await serve(server); });
    after(async () => { s.core.stop(); await s.http.close(); });

    it('announces an idle timeout of at most 5 s on an answer that keeps the connection', async () => {
      const r = await fetch(s.base + '/v1/cluster', { headers: { authorization: `Bearer ${KEY}` } });
      await r.text();
      const hint = /^timeout=(\d+)/.exec(r.headers.get('keep-alive') ?? '');
      assert.ok(hint !== null, `keep-alive header: ${r.headers.get('keep-alive')}`);
      assert.ok(Number(hint[1]) >= 2 && Number(hint[1]) <= 5, hint[1]);
    });

    // The failure itself: without the hint the second call fails with ECONNRESET on uWS. node:http closes at
    // 5 s and says so; it is defined for uWS only (13 s), so no run reports it skipped.
    if (server === 'uws') {
      it('a pooled connection reused after the client stalled across the idle close still gets its answer', async () => {
        assert.deepEqual(await runClient(s.base), ['200', '200']);
      });
    }
  });
}
