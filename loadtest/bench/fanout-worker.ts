/**
 * A fan-out bench worker (fanout.ts): opens `count` protocol clients (real
 * `ws` sockets, `channels=1`) spread over the gateways, each user
 * `fan<first+i>` with a token naming the bench channel. Each is the load
 * tools' ClientSession (protocol-session.ts) on a SessionDriver: the SDK's
 * heartbeat scheduler, as the push workers run it. Pushes are not acked
 * (`acks: false`), so the per-user push baseline costs the gateways what it
 * always did here: delivery alone, no ack traffic.
 * It records per channel offset the latest receipt time and how many received
 * it (plus pushes by id, for the per-user push comparison). Out-of-order or
 * duplicate receipts are counted: the bench reports them.
 *
 * IPC: parent → { cmd: 'counts' | 'close' }; worker → { type: 'ready' | 'counts', ... }.
 */
import { mintToken } from '../../services/standalone/dev-token.js';
import { ClientSession } from '../lib/protocol-session.js';
import { SessionDriver, nowMs } from '../lib/ws-driver.js';

export interface FanoutWorkerArgs {
  urls: string[];
  first: number;
  count: number;
  channel: string;
  secret: string;
  localAddress: string;
  concurrency: number;
}

/** Heartbeat interval asked for: long, so heartbeats cost the gateways next to nothing while they fan out. */
const HB_MS = 600_000;

const a = JSON.parse(process.argv[2]!) as FanoutWorkerArgs;
const send = (m: object): void => { process.send?.(m); };
/** offset → [receipts, latest receipt wall ms] */
const pubs = new Map<number, [number, number]>();
/** push id → [receipts, latest receipt wall ms] */
const pushes = new Map<string, [number, number]>();
let subscribed = 0, disorder = 0, closed = 0, failed = 0;
const drivers: SessionDriver[] = [];

function note<K>(m: Map<K, [number, number]>, k: K, now: number): void {
  const e = m.get(k) ?? [0, 0];
  e[0]++; e[1] = Math.max(e[1], now);
  m.set(k, e);
}

function open(i: number): Promise<void> {
  const user = `fan${a.first + i}`;
  return new Promise<void>((resolve) => {
    let last = 0;
    const d = new SessionDriver({
      url: a.urls[(a.first + i) % a.urls.length]!, channels: true, localAddress: a.localAddress, reconnect: false,
      token: () => mintToken(a.secret, user, { ttlSeconds: 7200, channels: [a.channel] }),
      session: new ClientSession({ intervalMs: HB_MS, acks: false }),
      onEvent: (e) => {
        const now = Date.now();
        if (e.type === 'subscribed' && e.frame.channel === a.channel) { subscribed++; resolve(); }
        else if (e.type === 'pub' && e.frame.channel === a.channel) {
          if (e.frame.offset <= last) disorder++;
          last = e.frame.offset;
          note(pubs, e.frame.offset, now);
        } else if (e.type === 'push') note(pushes, e.frame.id, now);
      },
      onEnd: (e) => { closed++; if (e.error !== undefined || !e.wasOpen) failed++; resolve(); },
    });
    drivers.push(d);
    d.connect();
  });
}

async function main(): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => { while (next < a.count) await open(next++); };
  // Heartbeats: one sweep over every session (as the push workers do).
  setInterval(() => { const at = nowMs(); for (const d of drivers) d.tick(at); }, 50);
  await Promise.all(Array.from({ length: Math.min(a.concurrency, a.count) }, lane));
  send({ type: 'ready', subscribed, failed, closed });
}

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'counts') send({ type: 'counts', pubs: [...pubs], pushes: [...pushes], disorder, closed, subscribed });
  else if (m.cmd === 'close') { for (const d of drivers) d.stop(); process.exit(0); }
});
void main();
