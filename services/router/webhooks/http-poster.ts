/**
 * WebhookPoster over node:http / node:https with a keep-alive agent per
 * scheme (sockets reused across attempts to one receiver; cheaper per
 * attempt than fetch). Redirects are not followed (a 3xx is a failed
 * attempt: a receiver that moved gets a config change, not our signed bodies
 * at a new address); the response body is discarded unread; the time limit
 * covers the whole attempt, connect included.
 */
import http from 'node:http';
import https from 'node:https';
import type { PostResult, WebhookPoster } from './core/dispatcher.js';

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' }),
};

export const httpPoster: WebhookPoster = {
  post(url, headers, body, timeoutMs, readBody): Promise<PostResult & { tooLong?: boolean }> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (r: PostResult & { tooLong?: boolean }): void => { if (!done) { done = true; clearTimeout(timer); resolve(r); } };
      const u = new URL(url);
      const mod = u.protocol === 'https:' ? https : http;
      const data = Buffer.from(body, 'utf8');
      const req = mod.request(u, { method: 'POST', agent: agents[u.protocol as 'http:' | 'https:'], headers: { ...headers, 'content-length': String(data.length) } }, (res) => {
        const status = res.statusCode ?? 0;
        if (readBody === undefined) {
          res.resume();
          res.on('end', () => finish({ status }));
        } else {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > readBody) { finish({ status, tooLong: true }); req.destroy(); } else chunks.push(c);
          });
          res.on('end', () => finish({ status, body: Buffer.concat(chunks).toString('utf8') }));
        }
        res.on('error', () => finish({ status: res.statusCode ?? 0 }));
      });
      const timer = setTimeout(() => { finish({ error: 'timeout' }); req.destroy(); }, timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => finish({ error: err.code ?? err.message }));
      req.end(data);
    });
  },
};
