/**
 * A fan-out bench worker (fanout.ts): opens `count` raw protocol clients
 * (real `ws` sockets, `channels=1`) spread over the gateways, each user
 * `fan<first+i>` with a token naming the bench channel, heartbeats them, and
 * records per channel offset the latest receipt time and how many received
 * it (plus pushes by id, for the per-user push comparison). Out-of-order or
 * duplicate receipts are counted: the bench reports them.
 *
 * IPC: parent → { cmd: 'counts' | 'close' }; worker → { type: 'ready' | 'counts', ... }.
 */
import WebSocket from 'ws';
import { SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX, decodeServerFrame, encodeHeartbeat } from '../../protocol/index.js';
import { mintToken } from '../../services/standalone/dev-token.js';

export interface FanoutWorkerArgs {
  urls: string[];
  first: number;
  count: number;
  channel: string;
  secret: string;
  localAddress: string;
  concurrency: number;
}

const a = JSON.parse(process.argv[2]!) as FanoutWorkerArgs;
const send = (m: object): void => { process.send?.(m); };
/** offset → [receipts, latest receipt wall ms] */
const pubs = new Map<number, [number, number]>();
/** push id → [receipts, latest receipt wall ms] */
const pushes = new Map<string, [number, number]>();
let subscribed = 0, disorder = 0, closed = 0, failed = 0;
const sockets: WebSocket[] = [];
const HEARTBEAT = encodeHeartbeat();

function open(i: number): Promise<void> {
  return mintToken(a.secret, `fan${a.first + i}`, { ttlSeconds: 7200, channels: [a.channel] }).then((token) => new Promise<void>((resolve) => {
    const url = `${a.urls[(a.first + i) % a.urls.length]!}?channels=1&hb=600000`;
    const ws = new WebSocket(url, [SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX + token], { localAddress: a.localAddress, perMessageDeflate: false });
    let last = 0;
    ws.on('message', (data: Buffer, isBinary) => {
      const d = decodeServerFrame(isBinary ? new Uint8Array(data) : data.toString('utf8'), isBinary);
      if (!d.ok) return;
      const f = d.frame;
      const now = Date.now();
      if (f.op === 'subscribed' && f.channel === a.channel) { subscribed++; resolve(); }
      else if (f.op === 'pub' && f.channel === a.channel) {
        if (f.offset <= last) disorder++;
        last = f.offset;
        const e = pubs.get(f.offset) ?? [0, 0];
        e[0]++; e[1] = Math.max(e[1], now);
        pubs.set(f.offset, e);
      } else if (f.op === 'push') {
        const e = pushes.get(f.id) ?? [0, 0];
        e[0]++; e[1] = Math.max(e[1], now);
        pushes.set(f.id, e);
      }
    });
    ws.on('close', () => { closed++; resolve(); });
    ws.on('error', () => { failed++; resolve(); });
    sockets.push(ws);
  }));
}

async function main(): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => { while (next < a.count) await open(next++); };
  await Promise.all(Array.from({ length: Math.min(a.concurrency, a.count) }, lane));
  setInterval(() => { for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) ws.send(HEARTBEAT); }, 20_000).unref();
  send({ type: 'ready', subscribed, failed, closed });
}

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'counts') send({ type: 'counts', pubs: [...pubs], pushes: [...pushes], disorder, closed, subscribed });
  else if (m.cmd === 'close') { for (const ws of sockets) ws.terminate(); process.exit(0); }
});
void main();
