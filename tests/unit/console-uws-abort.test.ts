/**
 * The console's uWS adapter (services/router/console/uws-http.ts) when the
 * client leaves in the middle of a body: the request settles at once, its
 * partial body is never handed to the routes (a control action must not act
 * on half a request), and nothing is written to the aborted response. uWS's
 * HttpRequest/HttpResponse are stood in for by recorders of the calls the
 * adapter makes, so the abort can land at an exact point.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { serveConsoleUws } from '../../services/router/console/uws-http.js';
import type { ConsoleHttp, ConsoleRequest } from '../../services/router/console/http.js';

function fakeExchange(): { res: HttpResponse; req: HttpRequest; abort(): void; data(text: string, last: boolean): void; writes: string[] } {
  let onAborted: (() => void) | undefined;
  let onData: ((ab: ArrayBuffer, last: boolean) => void) | undefined;
  const writes: string[] = [];
  const res = {
    onAborted(cb: () => void) { onAborted = cb; return res; },
    onData(cb: (ab: ArrayBuffer, last: boolean) => void) { onData = cb; return res; },
    cork(fn: () => void) { fn(); return res; },
    writeStatus(s: string) { writes.push(`status ${s}`); return res; },
    writeHeader(k: string) { writes.push(`header ${k}`); return res; },
    end(b?: unknown) { writes.push(`end ${String(b)}`); return res; },
    endWithoutBody() { writes.push('end'); return res; },
  } as unknown as HttpResponse;
  const headers: Array<[string, string]> = [['content-type', 'application/json'], ['content-length', '200']];
  const req = {
    getMethod: () => 'post',
    getUrl: () => '/console/api/control',
    forEach: (cb: (k: string, v: string) => void) => { for (const [k, v] of headers) cb(k, v); },
  } as unknown as HttpRequest;
  return {
    res, req, writes,
    abort: () => onAborted!(),
    data: (text, last) => { const b = Buffer.from(text); onData!(b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer, last); },
  };
}

describe('console on uWS: a client that leaves mid-body', () => {
  it('the request settles, the routes never see the partial body, nothing is written', async () => {
    const seen: Array<string | undefined> = [];
    const consoleHttp: ConsoleHttp = {
      owns: () => true,
      handle: async (r: ConsoleRequest) => {
        const body = await r.body(64 * 1024);
        seen.push(body);
        return { status: body === undefined ? 413 : 200, headers: {}, body: '' };
      },
    };
    const x = fakeExchange();
    const served = serveConsoleUws(consoleHttp, x.res, x.req);
    x.data('{"action":"kick","user":"al', false);
    await new Promise((r) => setImmediate(r));
    x.abort();
    const settled = await Promise.race([served.then((s) => `settled ${s}`), new Promise((r) => setTimeout(() => r('pending'), 500))]);
    assert.equal(settled, 'settled 413', 'settles without waiting for a body that will never come');
    assert.deepEqual(seen, [undefined], 'the partial body is not handed over');
    assert.deepEqual(x.writes, [], 'an aborted response is never written');
  });

  it('a whole body is handed over and answered (the recorder works)', async () => {
    const consoleHttp: ConsoleHttp = {
      owns: () => true,
      handle: async (r: ConsoleRequest) => ({ status: 200, headers: {}, body: (await r.body(1024)) ?? 'none' }),
    };
    const x = fakeExchange();
    const served = serveConsoleUws(consoleHttp, x.res, x.req);
    x.data('{"a":', false);
    x.data('1}', true);
    assert.equal(await served, 200);
    assert.deepEqual(x.writes, ['status 200 OK', 'end {"a":1}']);
  });
});
