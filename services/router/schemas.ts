/**
 * Validation of what the router accepts from outside besides pushes (those
 * go through core/push-input.ts, hand-written for the hot path): kick bodies,
 * path parameters and gateway messages on the bus.
 * Messages name the field (`messages[1].users[0]: …`) because a caller
 * fixing a request needs nothing else.
 */
import { z } from 'zod';
import type { GatewayBeacon, PresenceEvent } from './core/presence.js';
import type { DeliveryReceipt, ResumeRequest } from '../shared/bus/messages.js';

export const MAX_ID_CHARS = 128;

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** Our wording for a non-object; zod's own for the rest (e.g. unrecognised keys). */
const objectError = (iss: { code: string }): string | undefined => (iss.code === 'invalid_type' ? 'must be a JSON object' : undefined);

const idString = (what: string) =>
  z.string({ error: `must be a string (${what})` })
    .min(1, `must be 1-${MAX_ID_CHARS} characters (${what})`)
    .max(MAX_ID_CHARS, `must be 1-${MAX_ID_CHARS} characters (${what})`);

export const userId = idString('user id');
/** Same rule as the gateway's `device` handshake parameter (docs/protocol.md §2.2). */
export const deviceId = z.string({ error: 'must be a string (device id)' }).regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 . _ - (device id)');

/** `a.b[2].c: message; …` */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => {
      let path = '';
      for (const p of i.path) path += typeof p === 'number' ? `[${p}]` : path === '' ? String(p) : `.${String(p)}`;
      return `${path === '' ? 'body' : path}: ${i.message}`;
    })
    .join('; ');
}

function parseWith<T>(schema: z.ZodType<T>, input: unknown): Parsed<T> {
  const r = schema.safeParse(input);
  return r.success ? { ok: true, value: r.data } : { ok: false, message: formatIssues(r.error) };
}

export interface KickRequest {
  user: string;
  device?: string;
  type: 'kick' | 'logout';
}

const kickSchema = z.strictObject({
  user: userId,
  device: deviceId.optional(),
  type: z.enum(['kick', 'logout'], { error: 'must be "kick" or "logout"' }).default('kick'),
}, { error: objectError });

export function parseKickBody(body: unknown): Parsed<KickRequest> {
  const r = parseWith(kickSchema, body);
  if (!r.ok) return r;
  const { user, device, type } = r.value;
  return { ok: true, value: { user, type, ...(device !== undefined ? { device } : {}) } };
}

// ---- gateway → router bus messages (malformed ones are counted and dropped) ----

const str = z.string().min(1).max(256);
const wallMs = z.number().finite();

const presenceEventSchema = z.object({
  type: z.enum(['online', 'offline']), user: userId, device: str, conn: str, session: z.string().max(256), gateway: str, at: wallMs,
  seq: z.number().int().min(0).optional(),
});
const beaconSchema = z.object({ gateway: str, boot: z.string().max(256), connections: z.number().int().min(0), draining: z.boolean(), at: wallMs, version: z.string().max(64).optional() });
const acksSchema = z.object({ acks: z.array(z.tuple([userId, str, z.number().int().min(0)])).max(100_000) });
const receiptSchema = z.object({ user: userId, seqs: z.array(z.number().int().min(0)).max(100_000), gateway: str });
const resumeSchema = z.object({
  user: userId, device: str, gateway: str, conn: str,
  session: z.string().max(256).optional().nullable(), lastSeq: z.number().int().min(0).optional().nullable(),
  repair: z.boolean().optional(), timeoutMs: z.number().int().min(1).max(600_000).optional(),
});

export function parsePresenceEvent(v: unknown): PresenceEvent | undefined {
  const r = presenceEventSchema.safeParse(v);
  return r.success ? r.data : undefined;
}

export function parseBeacon(v: unknown): GatewayBeacon | undefined {
  const r = beaconSchema.safeParse(v);
  return r.success ? r.data : undefined;
}

export function parseAcks(v: unknown): Array<[string, string, number]> | undefined {
  const r = acksSchema.safeParse(v);
  return r.success ? r.data.acks : undefined;
}

export function parseReceipt(v: unknown): DeliveryReceipt | undefined {
  const r = receiptSchema.safeParse(v);
  return r.success ? r.data : undefined;
}

/** JSON has no `undefined`: a gateway may send null or omit the field. */
export function parseResumeRequest(v: unknown): ResumeRequest | undefined {
  const r = resumeSchema.safeParse(v);
  if (!r.success) return undefined;
  const { session, lastSeq, repair, ...rest } = r.data;
  return { ...rest, session: session ?? undefined, lastSeq: lastSeq ?? undefined, ...(repair === true ? { repair: true } : {}) };
}
