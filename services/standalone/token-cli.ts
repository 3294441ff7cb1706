/**
 * `npm run token -- <user> [--device D] [--ttl SECONDS] [--channels a,b]`: prints a client JWT
 * signed with LONGLINK_JWT_SECRET, or with the public dev secret when none is
 * set (loudly flagged: such tokens only work against a dev-mode gateway).
 */
import { parseArgs } from 'node:util';
import { mintToken } from './dev-token.js';
import { DEV_JWT_SECRET } from '../gateway/config.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { device: { type: 'string' }, ttl: { type: 'string', default: '3600' }, channels: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
});
const user = positionals[0];
if (values.help || user === undefined) {
  console.error('usage: npm run token -- <user> [--device DEVICE] [--ttl SECONDS] [--channels CHANNEL,CHANNEL]');
  process.exit(values.help ? 0 : 2);
}
const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) {
  console.error('--ttl must be a positive integer (seconds)');
  process.exit(2);
}
const secret = process.env.LONGLINK_JWT_SECRET;
if (secret === undefined) console.error('(dev token: signed with the built-in dev secret; accepted only by a LONGLINK_DEV gateway)');
const channels = values.channels?.split(',').map((c) => c.trim()).filter((c) => c !== '');
console.log(await mintToken(secret ?? DEV_JWT_SECRET, user, { ttlSeconds: ttl, ...(values.device !== undefined ? { device: values.device } : {}), ...(channels ? { channels } : {}) }));
