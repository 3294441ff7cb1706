/**
 * Client worker of the benchmark suite (suite.ts forks several). One
 * loopback source address set, one server dialect:
 *  - `longlink`: protocol-session.ts over `ws` (ready = hello; protocol heartbeats);
 *  - `ws`:       the ws baseline (ready = open; 1-byte heartbeat at a fixed rate, lib/fixed-beat.ts; 1-byte ack);
 *  - `socketio`: raw Engine.IO v4 / Socket.IO v5 frames over `ws` (ready = the
 *                namespace's CONNECT ack; the server pings, the client pongs).
 * Every client is user `<prefix><n>` with an HS256 token, minted before any
 * timing starts. Pushes carry `data.t` (epoch ms) for end-to-end latency.
 *
 * IPC: {cmd:'open', upTo} → {type:'opened', open, failed, firstAt, lastAt};
 *      {cmd:'stats'} → {type:'stats', open, beats, unexpected, failed, pushes, hist};
 *      {cmd:'close'}.
 */
import WebSocket from 'ws';
import { fileURLToPath } from 'node:url';
import { mintToken } from '../../services/standalone/dev-token.js';
import { ClientSession } from '../lib/protocol-session.js';
import { SessionDriver, nowMs } from '../lib/ws-driver.js';
import { Histogram } from '../lib/histogram.js';
import { beatEvery } from '../lib/fixed-beat.js';

export type Dialect = 'longlink' | 'ws' | 'socketio';
export interface SuiteWorkerArgs { dialect: Dialect; url: string; first: number; count: number; sources: string[]; secret: string; prefix: string; hbMs: number; concurrency: number }
export interface SuiteStats { open: number; beats: number; unexpected: number; failed: number; pushes: number; hist: ReturnType<Histogram['toSparse']> }

interface Client { ready: boolean; close(): void }

function run(a: SuiteWorkerArgs): void {
  const tokens: string[] = [];
  const clients: Client[] = [];
  const push = new Histogram();
  const t = { open: 0, beats: 0, unexpected: 0, failed: 0, pushes: 0 };
  let closing = false;
  const HB = Uint8Array.of(0x01);
  const onPush = (data: unknown): void => {
    const ts = typeof data === 'object' && data !== null ? (data as { t?: unknown }).t : undefined;
    if (typeof ts === 'number') { t.pushes++; push.recordMs(nowMs() - ts); }
  };

  // Longlink: the shared session logic; heartbeats from one sweep.
  const drivers: SessionDriver[] = [];
  setInterval(() => { const now = nowMs(); for (const d of drivers) d.tick(now); }, 100);

  function openOne(i: number): Promise<void> {
    const token = tokens[i]!, src = a.sources[i % a.sources.length]!;
    return new Promise<void>((resolve) => {
      let ready = false;
      const up = (): void => { if (!ready) { ready = true; t.open++; resolve(); } };
      const lost = (): void => { if (!ready) { t.failed++; resolve(); } else if (!closing) t.unexpected++; };
      if (a.dialect === 'longlink') {
        const d = new SessionDriver({ url: a.url, token, localAddress: src, reconnect: false, session: new ClientSession({ intervalMs: a.hbMs }),
          onEvent: (e) => {
            if (e.type === 'hello') up();
            else if (e.type === 'heartbeat_ack') t.beats++;
            else if (e.type === 'push' && !e.duplicate) onPush(e.frame.data);
          },
          onEnd: lost });
        drivers.push(d);
        clients.push({ get ready() { return d.ready; }, close: () => d.stop() });
        d.connect();
        return;
      }
      const sio = a.dialect === 'socketio';
      const ws = new WebSocket(sio ? `${a.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket` : a.url,
        sio ? [] : ['longlink.v1', `longlink.token.${token}`], { localAddress: src, perMessageDeflate: false });
      clients.push({ get ready() { return ready && ws.readyState === WebSocket.OPEN; }, close: () => ws.terminate() });
      ws.on('open', () => {
        if (sio) return; // Engine.IO speaks first
        up();
        beatEvery(ws, a.hbMs, HB);
      });
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!sio) {
          if (isBinary) t.beats++;
          else onPush((JSON.parse(data.toString('utf8')) as { data?: unknown }).data);
          return;
        }
        const s = data.toString('utf8');
        if (s === '2') { ws.send('3'); t.beats++; }                       // Engine.IO ping → pong
        else if (s.startsWith('0{')) ws.send(`40${JSON.stringify({ token })}`); // Engine.IO open → Socket.IO CONNECT with auth
        else if (s.startsWith('40')) up();                                 // CONNECT ack
        else if (s.startsWith('44')) ws.terminate();                       // CONNECT_ERROR (auth)
        else if (s.startsWith('42')) {
          const [ev, payload] = JSON.parse(s.slice(2)) as [string, unknown];
          if (ev === 'push') onPush(payload);
        }
      });
      ws.on('error', () => undefined);
      ws.on('close', lost);
    });
  }

  const send = (m: object): void => { if (process.connected) process.send!(m); };
  let opened = 0;
  process.on('message', (m: { cmd: string; upTo?: number }) => {
    if (m.cmd === 'open') {
      const upTo = Math.min(a.count, m.upTo ?? a.count);
      const firstAt = Date.now();
      let next = opened;
      opened = upTo;
      void Promise.all(Array.from({ length: a.concurrency }, async () => { while (next < upTo) await openOne(next++); }))
        .then(() => send({ type: 'opened', open: t.open, failed: t.failed, firstAt, lastAt: Date.now() }));
    }
    if (m.cmd === 'stats') send({ type: 'stats', ...t, open: clients.filter((c) => c.ready).length, hist: push.toSparse() } satisfies SuiteStats & { type: string });
    if (m.cmd === 'close') {
      closing = true;
      for (const c of clients) c.close();
      setTimeout(() => process.exit(0), 200);
    }
  });
  process.on('disconnect', () => process.exit(0));

  void (async () => {
    for (let i = 0; i < a.count; i++) tokens.push(await mintToken(a.secret, `${a.prefix}${a.first + i}`, { ttlSeconds: 3600 }));
    send({ type: 'ready' });
  })();
}

if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) {
  run(JSON.parse(process.argv[2]!) as SuiteWorkerArgs);
}
