// A minimal Longlink webhook receiver: Node.js, no dependencies.
//
//   WEBHOOK_SECRET=whsec_... node docs/examples/webhook-receiver.mjs   # listens on :9000
//
// It verifies each delivery as the Standard Webhooks convention says (what
// the `standardwebhooks` npm package does), answers 2xx only once the event
// is handled, and de-duplicates on webhook-id (delivery is at-least-once).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const secrets = (process.env.WEBHOOK_SECRET ?? '').split(',').filter(Boolean); // several while rotating
if (secrets.length === 0) throw new Error('set WEBHOOK_SECRET=whsec_...');
const keys = secrets.map((s) => Buffer.from(s.replace(/^whsec_/, ''), 'base64'));
const TOLERANCE_S = 5 * 60;
const seen = new Set(); // use a store with a TTL in production

function verify(id, timestamp, signatures, body) {
  const ts = Number(timestamp);
  if (!id || !Number.isInteger(ts) || Math.abs(Date.now() / 1000 - ts) > TOLERANCE_S) return false;
  const content = `${id}.${timestamp}.${body}`;
  const given = String(signatures).split(' ').filter((s) => s.startsWith('v1,')).map((s) => Buffer.from(s.slice(3), 'base64'));
  return keys.some((k) => {
    const want = createHmac('sha256', k).update(content).digest();
    return given.some((g) => g.length === want.length && timingSafeEqual(g, want));
  });
}

createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8'); // verify the raw body, before any JSON parsing
    const h = req.headers;
    if (!verify(h['webhook-id'], h['webhook-timestamp'], h['webhook-signature'], body)) {
      res.writeHead(401).end();
      return;
    }
    if (!seen.has(h['webhook-id'])) {
      seen.add(h['webhook-id']);
      const event = JSON.parse(body);
      // e.g. push.offline → hand event.data.payload to APNs/FCM; too_large → fetch it from the inbox API.
      console.log(event.type, JSON.stringify(event.data));
    }
    res.writeHead(204).end();
  });
}).listen(Number(process.env.PORT ?? 9000), () => console.log('webhook receiver listening'));
