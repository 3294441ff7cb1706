/**
 * What the baseline servers share with each other for the suite's
 * comparisons: HS256 JWT verification done the usual way for a Node server
 * (synchronous, what `jsonwebtoken.verify` does: HMAC, constant-time compare,
 * `exp`), and a push endpoint (`POST /push {"user","data"}` → the user's
 * sockets) on a plain HTTP server.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Verifies an HS256 JWT; returns its `sub`. Throws on a bad signature, algorithm, claims or expiry. */
export function verifyHs256(token: string, secret: string, nowS = Date.now() / 1000): string {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('malformed token');
  const [h, p, sig] = parts as [string, string, string];
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: unknown };
  if (header.alg !== 'HS256') throw new Error('algorithm not allowed');
  const want = createHmac('sha256', secret).update(`${h}.${p}`).digest();
  const got = Buffer.from(sig, 'base64url');
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw new Error('bad signature');
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as { sub?: unknown; exp?: unknown };
  if (typeof claims.sub !== 'string' || claims.sub === '') throw new Error('no sub');
  if (typeof claims.exp !== 'number' || claims.exp <= nowS) throw new Error('expired');
  return claims.sub;
}

/** The token from `longlink.token.<jwt>` in Sec-WebSocket-Protocol, or `access_token` in the query. */
export function tokenFrom(req: IncomingMessage): string | undefined {
  const proto = req.headers['sec-websocket-protocol'];
  const t = proto?.split(',').map((s) => s.trim()).find((s) => s.startsWith('longlink.token.'));
  if (t) return t.slice('longlink.token.'.length);
  return new URL(req.url ?? '/', 'http://x').searchParams.get('access_token') ?? undefined;
}

/** `POST /push` handler: parses {user, data} and hands them to `deliver`, which returns how many sockets got it. */
export function pushHandler(deliver: (user: string, data: unknown) => number): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.method !== 'POST' || (req.url !== '/push' && req.url !== '/v1/push')) { res.writeHead(404).end(); return; }
    const chunks: Buffer[] = [];
    req.on('data', (b: Buffer) => chunks.push(b));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { user?: unknown; users?: unknown; data?: unknown };
        const user = typeof body.user === 'string' ? body.user : Array.isArray(body.users) && typeof body.users[0] === 'string' ? body.users[0] : undefined;
        if (user === undefined) { res.writeHead(400).end('{"error":"user"}'); return; }
        const n = deliver(user, body.data);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results: [{ user, seq: 0, status: n > 0 ? 'sent' : 'offline', connections: n }] }));
      } catch {
        res.writeHead(400).end('{"error":"json"}');
      }
    });
  };
}
