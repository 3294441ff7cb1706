/**
 * The HTTP poster (undici Pool per receiver origin) against a real node:http
 * server: statuses, no redirects followed, the whole-attempt time limit,
 * the reply-size limit, connection errors and socket reuse.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpPoster } from '../../services/router/webhooks/http-poster.js';

describe('webhook HTTP poster', () => {
  let server: Server;
  let base = '';
  let sockets = 0;
  const seen: Array<{ url: string; headers: Record<string, unknown>; body: string }> = [];
  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => { body += c; });
      req.on('end', () => {
        seen.push({ url: req.url ?? '', headers: req.headers, body });
        if (req.url === '/ok') res.writeHead(204).end();
        else if (req.url?.startsWith('/reply')) res.writeHead(200, { 'content-type': 'application/json' }).end('{"answer":42}');
        else if (req.url === '/big') res.writeHead(200).end('x'.repeat(10_000));
        else if (req.url === '/moved') res.writeHead(302, { location: '/ok' }).end();
        else if (req.url === '/hang') { /* never answers */ } else res.writeHead(500).end('no');
      });
    });
    server.on('connection', () => { sockets++; });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => { server.closeAllConnections(); server.close(); });

  it('POSTs the body with the given headers and returns the status; a 3xx is not followed', async () => {
    const r = await httpPoster.post(`${base}/ok`, { 'content-type': 'application/json', 'webhook-id': 'msg_1' }, '{"a":1}', 2000);
    assert.deepEqual(r, { status: 204 });
    const got = seen.at(-1)!;
    assert.equal(got.body, '{"a":1}');
    assert.equal(got.headers['webhook-id'], 'msg_1');
    assert.equal(got.headers['content-length'], '7');
    const n = seen.length;
    assert.deepEqual(await httpPoster.post(`${base}/moved`, {}, '{}', 2000), { status: 302 });
    assert.equal(seen.length, n + 1, 'the redirect target was not requested');
    assert.deepEqual(await httpPoster.post(`${base}/fail`, {}, '{}', 2000), { status: 500 });
  });

  it('keeps the query string and reads a reply only when asked, up to the limit', async () => {
    assert.deepEqual(await httpPoster.post(`${base}/reply?x=1`, {}, '{}', 2000, 1024), { status: 200, body: '{"answer":42}' });
    assert.equal(seen.at(-1)!.url, '/reply?x=1');
    assert.deepEqual(await httpPoster.post(`${base}/big`, {}, '{}', 2000, 1024), { status: 200, tooLong: true });
    assert.deepEqual(await httpPoster.post(`${base}/big`, {}, '{}', 2000), { status: 200 });
  });

  it('the time limit covers the whole attempt; a refused connection names its code', async () => {
    const t0 = performance.now();
    assert.deepEqual(await httpPoster.post(`${base}/hang`, {}, '{}', 300), { error: 'timeout' });
    const took = performance.now() - t0;
    assert.ok(took >= 290 && took < 2000, `timed out after ${took} ms`);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    assert.deepEqual(await httpPoster.post(`http://127.0.0.1:${port}/x`, {}, '{}', 2000), { error: 'ECONNREFUSED' });
  });

  it('reuses keep-alive sockets: 200 attempts, 8 at a time, over a handful of connections', async () => {
    const before0 = sockets;
    for (let k = 0; k < 25; k++) {
      const rs = await Promise.all(Array.from({ length: 8 }, () => httpPoster.post(`${base}/ok`, {}, '{}', 2000)));
      assert.ok(rs.every((r) => r.status === 204));
    }
    // The pool may open a few beyond 8 (a socket is counted free a moment after its answer), never one per attempt.
    assert.ok(sockets - before0 <= 24, `${sockets - before0} new sockets for 200 attempts`);
  });
});
