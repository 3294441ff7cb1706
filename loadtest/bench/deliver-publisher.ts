/**
 * Publishes deliver messages (the router's format, `{deliveries: [...]}`)
 * straight on one gateway's deliver subject for bench:gateway-deliver, at a
 * fixed push rate and a fixed number of pushes per bus message, and counts
 * how the messages left this process.
 *
 * Why one message per macrotask: nats.js buffers every publish made in one
 * synchronous run and writes them together from a microtask; a loop that
 * publishes whatever fell due since its last timer wakeup therefore sends
 * several messages in one socket write, and the gateway gets them in one
 * read, a packing that follows this process's timer lag (the machine's
 * load), not --per-msg. Each message here is published in its own
 * macrotask, so its flush runs before the next one is made.
 *
 * The writes are counted by wrapping the connection's transport send (an
 * internal of nats.js: if it is not there, the counts read -1): `writes` is
 * the socket writes that carried a PUB, `maxPerWrite` the most PUBs in one,
 * and `queued` those made while the socket still held unsent bytes (Node
 * may merge them into one system call).
 */
import type { NatsConnection } from '@nats-io/transport-node';

export interface WriteCounts { writes: number; pubs: number; maxPerWrite: number; queued: number }

interface Transport { send(frame: Uint8Array): void; socket?: { writableLength: number } }

const PUB = [0x50, 0x55, 0x42, 0x20]; // "PUB "

/** PUB commands in a frame of protocol text (a payload that holds "\r\nPUB " would count too: ours are JSON, which escapes \r\n). */
export function pubsIn(frame: Uint8Array): number {
  let n = 0;
  for (let i = 0; i + 3 < frame.length; i++) {
    if (frame[i] === PUB[0] && frame[i + 1] === PUB[1] && frame[i + 2] === PUB[2] && frame[i + 3] === PUB[3] && (i === 0 || frame[i - 1] === 0x0a)) n++;
  }
  return n;
}

/** Starts counting `nc`'s writes; undefined when its transport is not the shape this expects. */
export function countWrites(nc: NatsConnection): WriteCounts | undefined {
  const t = (nc as unknown as { protocol?: { transport?: Transport } }).protocol?.transport;
  if (t === undefined || typeof t.send !== 'function') return undefined;
  const c: WriteCounts = { writes: 0, pubs: 0, maxPerWrite: 0, queued: 0 };
  const send = t.send.bind(t);
  t.send = (frame: Uint8Array): void => {
    const n = pubsIn(frame);
    if (n > 0) {
      c.writes++; c.pubs += n; c.maxPerWrite = Math.max(c.maxPerWrite, n);
      if ((t.socket?.writableLength ?? 0) > 0) c.queued++;
    }
    send(frame);
  };
  return c;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));
const nowAbs = (): number => performance.timeOrigin + performance.now();

export interface PublishPlan {
  subject: string; users: number; rate: number; pushes: number; perMsg: number; phase: number;
  /** Next seq per user (advanced here), and the next user to push to. */
  seqs: Int32Array; cursor: { user: number };
}

/** Publishes plan.pushes pushes, plan.perMsg users per message, message k due at start + k·perMsg/rate; returns the messages sent. */
export async function publishPaced(nc: NatsConnection, p: PublishPlan): Promise<number> {
  const msgs = Math.ceil(p.pushes / p.perMsg);
  const intervalMs = (p.perMsg * 1000) / p.rate;
  const start = performance.now();
  for (let m = 0; m < msgs; m++) {
    const wait = start + m * intervalMs - performance.now();
    // A timer for a wait of a millisecond or more; otherwise (behind or nearly due) the next turn of the loop,
    // which still runs the previous message's flush first.
    if (wait >= 1) await sleep(wait); else await nextTurn();
    const deliveries = [];
    for (let k = 0; k < p.perMsg; k++) {
      const u = p.cursor.user;
      p.cursor.user = (u + 1) % p.users;
      const seq = ++p.seqs[u]!;
      deliveries.push({ user: `u${u}`, pushes: [{ seq, id: `g${p.phase}-${u}-${seq}`, ts: Date.now(), data: JSON.stringify({ t: nowAbs(), p: p.phase }) }] });
    }
    nc.publish(p.subject, JSON.stringify({ deliveries }));
  }
  await nc.flush();
  return msgs;
}
