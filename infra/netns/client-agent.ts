/**
 * Runs SDK clients inside a client host's namespace, so their TCP leaves from
 * that host's address and crosses the test network. Driven by clients.ts over
 * stdin/stdout, one JSON object a line.
 *
 * In:  {"op":"add","id":"u1","url":…,"token":…,"device":…,"heartbeat":{…},"backoff":{…}}
 *      {"op":"close","id":"u1"}   {"op":"stats"}
 * Out: {"ev":"connected"|"disconnected"|"push"|"interval"|"stats"|"error",…,"t":<epoch ms>}
 * Every event carries the wall clock (Date.now()): the test process reads the
 * same clock, so times compare across processes.
 */
import { createInterface } from 'node:readline';
import { createClient, type LonglinkClient, type NodeClientOptions } from '../../sdk/src/node.js';

const clients = new Map<string, LonglinkClient>();
const emit = (o: Record<string, unknown>): void => { process.stdout.write(JSON.stringify({ ...o, t: Date.now() }) + '\n'); };

interface AddCmd { op: 'add'; id: string; url: string; token: string; device?: string; heartbeat?: NodeClientOptions['heartbeat']; backoff?: NodeClientOptions['backoff']; connectTimeoutMs?: number }

function add(c: AddCmd): void {
  if (clients.has(c.id)) { emit({ ev: 'error', id: c.id, error: 'duplicate id' }); return; }
  const client = createClient({
    url: c.url, token: () => c.token,
    ...(c.device !== undefined ? { device: c.device } : {}),
    ...(c.heartbeat !== undefined ? { heartbeat: c.heartbeat } : {}),
    ...(c.backoff !== undefined ? { backoff: c.backoff } : {}),
    ...(c.connectTimeoutMs !== undefined ? { connectTimeoutMs: c.connectTimeoutMs } : {}),
  });
  clients.set(c.id, client);
  const id = c.id;
  client.on('connected', (e) => emit({ ev: 'connected', id, session: e.session, resumed: e.resumed, gateway: e.gateway, conn: e.conn, intervalMs: e.intervalMs }));
  client.on('disconnected', (e) => emit({ ev: 'disconnected', id, code: e.code, reason: e.reason, zombie: e.zombie, retryInMs: e.retryInMs }));
  client.on('push', (p) => emit({ ev: 'push', id, seq: p.seq, data: p.data }));
  client.on('interval', (e) => emit({ ev: 'interval', id, fromMs: e.fromMs, toMs: e.toMs, stable: e.stable, reason: e.reason }));
  client.on('heartbeatAck', (e) => emit({ ev: 'ack', id, rttMs: Math.round(e.rttMs) }));
  client.on('error', (err) => emit({ ev: 'error', id, error: String(err) }));
  client.connect();
}

function stats(): void {
  emit({
    ev: 'stats',
    clients: [...clients].map(([id, c]) => ({ id, session: c.session, lastSeq: c.lastSeq, intervalMs: c.heartbeatIntervalMs, stable: c.heartbeatStable, ...c.stats })),
  });
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let cmd: { op?: string; id?: string };
  try { cmd = JSON.parse(line) as typeof cmd; } catch { emit({ ev: 'error', error: 'bad JSON' }); return; }
  if (cmd.op === 'add') add(cmd as AddCmd);
  else if (cmd.op === 'close') { clients.get(cmd.id ?? '')?.close(); clients.delete(cmd.id ?? ''); }
  else if (cmd.op === 'stats') stats();
  else emit({ ev: 'error', error: `unknown op ${cmd.op}` });
});
rl.on('close', () => { for (const c of clients.values()) c.close(); setTimeout(() => process.exit(0), 100); });
process.on('SIGTERM', () => { for (const c of clients.values()) c.close(); process.exit(0); });
emit({ ev: 'ready' });
