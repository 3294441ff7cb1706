/**
 * `npm run client -- <user> [--url ws://127.0.0.1:8080/ws] [--device D] [--interval MS]`:
 * a small protocol client for trying Longlink by hand. Connects with a dev
 * token (or --token), heartbeats when idle, acks pushes, prints what arrives.
 */
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { mintToken } from './dev-token.js';
import { DEV_JWT_SECRET } from '../gateway/config.js';
import { SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX, closeCodeInfo, decodeServerFrame, encodeAck, encodeHeartbeat } from '../../protocol/index.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string', default: 'ws://127.0.0.1:8080/ws' },
    device: { type: 'string', default: 'cli' },
    token: { type: 'string' },
    interval: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
const user = positionals[0];
if (values.help || user === undefined) {
  console.error('usage: npm run client -- <user> [--url URL] [--device DEVICE] [--token JWT] [--interval MS]');
  process.exit(values.help ? 0 : 2);
}
const token = values.token ?? (await mintToken(process.env.LONGLINK_JWT_SECRET ?? DEV_JWT_SECRET, user, { device: values.device }));
const ws = new WebSocket(values.url, [SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX + token]);
ws.binaryType = 'nodebuffer';
let intervalMs = 30_000;
let lastPacket = Date.now();
let timer: NodeJS.Timeout | undefined;
const log = (...a: unknown[]): void => console.log(new Date().toISOString().slice(11, 23), ...a);

function arm(): void {
  clearTimeout(timer);
  timer = setTimeout(() => {
    if (Date.now() - lastPacket >= intervalMs - 5) {
      ws.send(encodeHeartbeat());
      lastPacket = Date.now();
    }
    arm();
  }, Math.max(50, intervalMs - (Date.now() - lastPacket)));
}

ws.on('unexpected-response', (_req, res) => {
  log(`upgrade refused: HTTP ${res.statusCode}${res.headers['retry-after'] ? ` (Retry-After ${res.headers['retry-after']})` : ''}`);
  res.resume();
  res.on('end', () => process.exit(1));
});
ws.on('open', () => log(`connected to ${values.url} as ${user}/${values.device}`));
ws.on('message', (data: Buffer, isBinary) => {
  lastPacket = Date.now();
  const d = decodeServerFrame(isBinary ? data : data.toString('utf8'), isBinary);
  if (!d.ok) { log('undecodable frame:', d.reason); return; }
  const f = d.frame;
  switch (f.op) {
    case 'hello':
      intervalMs = values.interval !== undefined ? Number(values.interval) : f.hb.intervalMs;
      log(`hello: session ${f.session}, gateway ${f.gateway}, heartbeat every ${intervalMs} ms (server allows ${f.hb.minMs}-${f.hb.maxMs})`);
      if (values.interval !== undefined) ws.send(encodeHeartbeat(intervalMs));
      arm();
      break;
    case 'push':
      log(`push #${f.seq} ${f.id}:`, JSON.stringify(f.data));
      ws.send(encodeAck(f.seq));
      break;
    case 'heartbeat_ack':
      break;
    default:
      log(f.op, JSON.stringify(f));
  }
});
ws.on('close', (code, reason) => {
  clearTimeout(timer);
  const info = closeCodeInfo(code);
  log(`closed: ${code} ${info?.name ?? ''} ${reason.toString()}${info ? ` (reconnect: ${info.reconnect})` : ''}`);
  process.exit(0);
});
ws.on('error', (err) => log('error:', err.message));
process.on('SIGINT', () => ws.close(1000, 'bye'));
