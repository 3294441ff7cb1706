/**
 * How webhook jobs are laid out in a JetStream queue message.
 *
 * One message carries one or more jobs of one endpoint (the endpoint is the
 * message's subject, so it is not repeated). Layout: the line `LLWH1`, then
 * per job a header line of tab-separated fields and the body's bytes:
 *
 *     LLWH1\n
 *     <id>\t<type>\t<createdAt>\t<attempts>\t<notBefore>\t<body bytes>\n<body>\n
 *     …
 *
 * `attempts` is how many attempts were made before this message (0 for a
 * new event; a retry re-published out of a batch carries its count) and
 * `notBefore` the epoch ms before which it must not be attempted (0: now).
 * Why not JSON: the body is itself JSON, and a JSON envelope escapes every
 * quote of it on the way in and unescapes it on the way out, per event and
 * per hop; here the body's bytes are copied as they are. Messages that start
 * with `{` are the previous layout (one job as JSON: `{id, endpoint, type,
 * createdAt, body}`), still read, so a queue written by an older router
 * drains after an upgrade; and still written in the "single" queue layout
 * (LONGLINK_WEBHOOK_QUEUE_LAYOUT), because routers before the framed layout
 * terminate any message they cannot parse: during a rolling update from such
 * a release every router must write what every router reads.
 */
import type { WebhookEventType } from './core/types.js';
import type { ShareTag } from './jetstream-share.js';

/** A job as a queue message carries it. */
export interface QueuedJob {
  readonly id: string;
  readonly type: WebhookEventType;
  readonly createdAt: number;
  /** The JSON body, exactly as signed and sent. */
  readonly body: string;
  /** Attempts made before this message (0: a new event). */
  readonly attempts: number;
  /** Epoch ms before which it waits (0: none). */
  readonly notBefore: number;
  /** The user's share it is charged to (jetstream-share.ts): travels in the message's header, not in this layout. */
  readonly share?: ShareTag;
}

const MAGIC = 'LLWH1\n';
const NL = 10;

/** Header fields must not hold the separators; ids and types are ours, so this only guards against a corrupt job. */
const clean = (s: string): string => (/[\t\n]/.test(s) ? s.replace(/[\t\n]/g, ' ') : s);

/** One message holding `jobs` (at least one). */
export function encodeJobs(jobs: readonly QueuedJob[]): Buffer {
  let s = MAGIC;
  for (const j of jobs) {
    s += `${clean(j.id)}\t${clean(j.type)}\t${j.createdAt}\t${j.attempts}\t${j.notBefore}\t${Buffer.byteLength(j.body)}\n${j.body}\n`;
  }
  return Buffer.from(s, 'utf8');
}

/** One job in the previous layout (JSON), which routers of every release read. Carries no attempts or wait: only for new jobs. */
export function encodeJobJson(job: QueuedJob, endpoint: string): Buffer {
  return Buffer.from(JSON.stringify({ id: job.id, endpoint, type: job.type, createdAt: job.createdAt, body: job.body }), 'utf8');
}

/**
 * The jobs of one message, or undefined when it is malformed (a message
 * half of which parses is malformed: nothing of it is delivered).
 */
export function decodeJobs(data: Uint8Array): QueuedJob[] | undefined {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length > 0 && buf[0] === 0x7b /* { */) return decodeLegacy(buf);
  if (buf.length < MAGIC.length || buf.toString('latin1', 0, MAGIC.length) !== MAGIC) return undefined;
  const out: QueuedJob[] = [];
  let at = MAGIC.length;
  while (at < buf.length) {
    const eol = buf.indexOf(NL, at);
    if (eol < 0) return undefined;
    const f = buf.toString('utf8', at, eol).split('\t');
    if (f.length !== 6) return undefined;
    const createdAt = Number(f[2]), attempts = Number(f[3]), notBefore = Number(f[4]), len = Number(f[5]);
    if (!Number.isFinite(createdAt) || !Number.isInteger(attempts) || attempts < 0 || !Number.isFinite(notBefore) || !Number.isInteger(len) || len < 0) return undefined;
    const start = eol + 1, end = start + len;
    if (end >= buf.length || buf[end] !== NL || f[0] === '') return undefined;
    out.push({ id: f[0]!, type: f[1] as WebhookEventType, createdAt, attempts, notBefore, body: buf.toString('utf8', start, end) });
    at = end + 1;
  }
  return out.length > 0 ? out : undefined;
}

function decodeLegacy(buf: Buffer): QueuedJob[] | undefined {
  try {
    const j = JSON.parse(buf.toString('utf8')) as { id?: unknown; type?: unknown; createdAt?: unknown; body?: unknown };
    if (typeof j.id !== 'string' || typeof j.body !== 'string' || typeof j.createdAt !== 'number') return undefined;
    return [{ id: j.id, type: j.type as WebhookEventType, createdAt: j.createdAt, body: j.body, attempts: 0, notBefore: 0 }];
  } catch {
    return undefined;
  }
}
