/**
 * Unauthenticated upgrade floods against admission (real gateway, real
 * sockets): garbage-token upgrades must not use up the connect budget that
 * valid clients need. The token is verified before the shared budget is
 * spent, and each source address has its own budget.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { connect } from '../helpers/client.js';
import { sleep, start } from '../helpers/standalone.js';
import type { Standalone } from '../../services/standalone/app.js';

/**
 * `n` valid clients paced at `ratePerS`, each from one of 20 addresses: the fraction that got hello, and why
 * the others did not (HTTP status and error code of a refusal, or what failed), so a shortfall names its cause.
 */
async function validRun(s: Standalone, tokens: string[], ratePerS: number): Promise<{ ok: number; failures: Record<string, number> }> {
  const failures: Record<string, number> = {};
  const fail = (why: string): false => { failures[why] = (failures[why] ?? 0) + 1; return false; };
  const attempts: Array<Promise<boolean>> = [];
  for (let i = 0; i < tokens.length; i++) {
    attempts.push((async () => {
      try {
        const r = await connect(s.gatewayUrl, { token: tokens[i]!, localAddress: `127.0.0.${100 + (i % 20)}` });
        if (!r.ok) return fail(`${r.status} ${/"code":"(\w+)"/.exec(r.body)?.[1] ?? ''}`.trim());
        try { await r.client.frame('hello', 0, 10_000); return true; } catch { return fail('no hello in 10 s'); } finally { r.client.close(); }
      } catch (e) { return fail(`error ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
    })());
    await sleep(1000 / ratePerS);
  }
  const ok = (await Promise.all(attempts)).filter(Boolean).length;
  return { ok: ok / tokens.length, failures };
}

/** 8 sources, each with 4 upgrades in flight at all times, all with garbage tokens, until `stop`. */
function flood(s: Standalone, stop: { done: boolean }): { promise: Promise<void>; statuses: Map<number, number> } {
  const statuses = new Map<number, number>();
  const loop = async (source: string): Promise<void> => {
    while (!stop.done) {
      try {
        const r = await connect(s.gatewayUrl, { token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.garbage', localAddress: source });
        const status = r.ok ? 101 : r.status;
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (r.ok) r.client.close();
      } catch {
        statuses.set(0, (statuses.get(0) ?? 0) + 1);
      }
    }
  };
  const loops: Array<Promise<void>> = [];
  for (let src = 0; src < 8; src++) for (let k = 0; k < 4; k++) loops.push(loop(`127.0.0.${2 + src}`));
  return { promise: Promise.all(loops).then(() => undefined), statuses };
}

describe('admission under a flood of garbage-token upgrades', () => {
  it("leaves valid clients' success rate within a few percent of the no-flood run", async () => {
    // A small shared budget, so that any of it spent on garbage would show: 150 valid connects/s against 200/s, burst 40; each source 20/s (the valid ones use 7.5/s).
    const s = await start({ LONGLINK_CONNECT_RATE: '200', LONGLINK_CONNECT_BURST: '40', LONGLINK_SOURCE_CONNECT_RATE: '20', LONGLINK_SOURCE_CONNECT_BURST: '20' });
    try {
      const mint = (tag: string): Promise<string[]> => Promise.all(Array.from({ length: 300 }, (_, i) => s.mintToken(`${tag}${i}`)));
      const [quietTokens, floodTokens] = [await mint('quiet'), await mint('flood')];
      const baseline = await validRun(s, quietTokens, 150);
      const rateRefusalsBefore = s.gateway.core.stats.admissionRejections.get('LL_ADMISSION_RATE') ?? 0;

      const stop = { done: false };
      const f = flood(s, stop);
      await sleep(300);
      const underFlood = await validRun(s, floodTokens, 150);
      stop.done = true;
      await f.promise;

      assert.ok(baseline.ok >= 0.9, `no-flood success ${baseline.ok}, failures ${JSON.stringify(baseline.failures)}`);
      assert.ok(underFlood.ok >= baseline.ok - 0.05,
        `success under the flood ${underFlood.ok} vs ${baseline.ok} without; failures ${JSON.stringify(underFlood.failures)} vs ${JSON.stringify(baseline.failures)}`);
      const garbage = [...f.statuses.values()].reduce((a, b) => a + b, 0);
      assert.ok(garbage > 600, `the flood ran: ${garbage} garbage upgrades (${JSON.stringify([...f.statuses])})`);
      assert.equal(f.statuses.get(101) ?? 0, 0, 'no garbage upgrade got in');
      assert.ok((f.statuses.get(401) ?? 0) > 0 && (f.statuses.get(429) ?? 0) > 0, `401 while the sources had budget, then 429: ${JSON.stringify([...f.statuses])}`);
      // The shared connect budget refused (nearly) nobody: the garbage never spent it.
      const rateRefusals = (s.gateway.core.stats.admissionRejections.get('LL_ADMISSION_RATE') ?? 0) - rateRefusalsBefore;
      assert.ok(rateRefusals <= 15, `connect-rate refusals during the flood: ${rateRefusals}`);
      assert.ok((s.gateway.core.stats.admissionRejections.get('LL_ADMISSION_SOURCE_RATE') ?? 0) > 0);
    } finally { await s.close(); }
  });

  it('the gateway closes the connection after a refused upgrade (a flood cannot hold its sockets open)', async () => {
    const s = await start({});
    try {
      const u = new URL(s.gatewayUrl);
      const sock = tcpConnect(Number(u.port), u.hostname);
      let text = '';
      sock.setEncoding('utf8');
      sock.on('data', (c: string) => { text += c; });
      const ended = new Promise<void>((resolve) => sock.on('close', () => resolve()));
      sock.write(`GET ${u.pathname} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n`
        + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: longlink.v1, longlink.token.garbage\r\n\r\n');
      const timeout = setTimeout(() => sock.destroy(new Error('still open 3 s after the refusal')), 3000);
      await ended;
      clearTimeout(timeout);
      assert.match(text, /^HTTP\/1\.1 401 /, text);
      assert.equal(sock.errored, null, 'closed by the gateway, not by the timeout');
    } finally { await s.close(); }
  });
});
