/**
 * `npm run client -- <user> [--url ws://127.0.0.1:8080/ws] [--device D] [--interval MS] [--channels a,b]`:
 * a small client for trying Longlink by hand, as a thin CLI over the SDK's
 * Node entry (sdk/src/node.ts): the SDK heartbeats, acks, reconnects with
 * backoff and resumes the session, so what you see is what an app gets.
 * Tokens are dev tokens minted per attempt (fresh after a 401 or expiry), or
 * a fixed --token.
 */
import { parseArgs } from 'node:util';
import { mintToken } from './dev-token.js';
import { DEV_JWT_SECRET } from '../gateway/config.js';
import { createClient } from '../../sdk/src/node.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string', default: 'ws://127.0.0.1:8080/ws' },
    device: { type: 'string', default: 'cli' },
    token: { type: 'string' },
    interval: { type: 'string' },
    channels: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
const user = positionals[0];
const interval = values.interval === undefined ? undefined : Number(values.interval);
if (values.help || user === undefined || (interval !== undefined && !(interval >= 100))) {
  console.error('usage: npm run client -- <user> [--url URL] [--device DEVICE] [--token JWT] [--interval MS (>= 100)] [--channels CHANNEL,CHANNEL (dev token claim)]');
  process.exit(values.help ? 0 : 2);
}
const secret = process.env.LONGLINK_JWT_SECRET ?? DEV_JWT_SECRET;
const channels = values.channels?.split(',').map((c) => c.trim()).filter((c) => c !== '');
const log = (...a: unknown[]): void => console.log(new Date().toISOString().slice(11, 23), ...a);

const client = createClient({
  url: values.url,
  device: values.device,
  token: values.token ?? (() => mintToken(secret, user, { device: values.device, ...(channels ? { channels } : {}) })),
  // --interval: a fixed interval (the server's bounds still clamp it); otherwise the SDK's smart heartbeat.
  ...(interval !== undefined ? { heartbeat: { smart: false, intervalMs: interval } } : {}),
});
client.on('connected', (e) => log(`${e.resumed ? 'resumed' : 'connected'}: session ${e.session}, gateway ${e.gateway}, heartbeat every ${e.intervalMs} ms (server seq ${e.serverSeq})`));
client.on('disconnected', (e) => log(`closed: ${e.code} ${e.reason}${e.zombie ? ' (heartbeat timeout)' : ''}${e.terminal !== undefined ? ` — stopped: ${e.terminal}` : e.retryInMs !== undefined ? ` — retrying in ${Math.round(e.retryInMs)} ms` : ''}`));
client.on('push', (p) => log(`push #${p.seq} ${p.id}:`, JSON.stringify(p.data)));
client.on('channelMessage', (m) => log(`${m.channel} #${m.offset} ${m.id}:`, JSON.stringify(m.data)));
client.on('subscribed', (f) => log(`subscribed ${f.channel} at offset ${f.offset}${f.recovered === true ? ' (missed messages recovered)' : f.recovered === false ? ' (history did not cover what was missed)' : ''}`));
client.on('unsubscribed', (f) => log(`unsubscribed ${f.channel}${f.error ? ` (${f.error})` : ''}`));
client.on('pushError', (p) => log(`push #${p.seq} ${p.id} refused: ${p.reason}`));
client.on('interval', (e) => log(`heartbeat interval ${e.fromMs} → ${e.toMs} ms (${e.reason})`));
client.on('error', (err) => log('error:', err.message));
client.on('state', (s) => { if (s.to === 'replaced' || s.to === 'kicked' || s.to === 'logged-out' || s.to === 'failed') process.exit(1); if (s.to === 'closed') process.exit(0); });
process.on('SIGINT', () => client.close());
log(`connecting to ${values.url} as ${user}/${values.device}`);
client.connect();
