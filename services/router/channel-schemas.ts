/**
 * Validation of channel requests: publish, broadcast and (un)subscribe
 * bodies (HTTP and bus), and gateways' history requests.
 */
import { z } from 'zod';
import { BROADCAST_CHANNEL, checkChannel, checkMessageId, checkPublishChannel } from '../../protocol/index.js';
import type { ChannelHistoryRequest, ChannelOccupancyEvent, ChannelPresenceEvent } from '../shared/bus/messages.js';
import type { PublishRequest, SubscribeRequest } from './core/channels.js';
import { deviceId, gatewayOrConnId, ident, objectError, parseWith as parse, userId, type Parsed } from './schemas.js';
import { parseOrUndefined } from '../shared/parse.js';

const channel = ident(checkChannel, 'channel');
const publishChannel = ident(checkPublishChannel, 'channel');
const messageId = ident(checkMessageId, 'message id');
const data = z.unknown().refine((v) => v !== undefined, 'is required (any JSON value; null is allowed)');

/** Most channels named in one subscribe call (and in a token's `channels` claim, by the gateway's own limit). */
export const MAX_CHANNELS_PER_CALL = 100;

const publishSchema = z.strictObject({ channel: publishChannel, data, id: messageId.optional() }, { error: objectError });
const broadcastSchema = z.strictObject({ data, id: messageId.optional() }, { error: objectError });
const subscribeSchema = z.strictObject({
  user: userId, device: deviceId.optional(), channels: z.array(channel).min(1).max(MAX_CHANNELS_PER_CALL),
}, { error: objectError });
const historySchema = z.object({
  channel: publishChannel, afterOffset: z.number().int().min(0).optional().nullable(), timeoutMs: z.number().int().min(1).max(600_000).optional(),
});

/** `broadcast`: the body names no channel; it goes to BROADCAST_CHANNEL. */
export function parsePublishBody(body: unknown, broadcast = false): Parsed<PublishRequest> {
  const r = broadcast ? parse(broadcastSchema, body) : parse(publishSchema, body);
  if (!r.ok) return r;
  const v = r.value as { channel?: string; data: unknown; id?: string };
  return { ok: true, value: { channel: v.channel ?? BROADCAST_CHANNEL, data: v.data, ...(v.id !== undefined ? { id: v.id } : {}) } };
}

export function parseSubscribeBody(body: unknown, type: SubscribeRequest['type']): Parsed<SubscribeRequest> {
  const r = parse(subscribeSchema, body);
  if (!r.ok) return r;
  const { user, device, channels } = r.value;
  return { ok: true, value: { type, user, channels: [...new Set(channels)], ...(device !== undefined ? { device } : {}) } };
}

export function parseHistoryRequest(v: unknown): ChannelHistoryRequest | undefined {
  const r = parseOrUndefined(historySchema, v);
  if (r === undefined) return undefined;
  const { afterOffset, ...rest } = r;
  return afterOffset === null || afterOffset === undefined ? rest : { ...rest, afterOffset };
}

const occupancySchema = z.object({
  channel: publishChannel, gateway: gatewayOrConnId, occupied: z.boolean(), at: z.number().finite(), user: userId.optional(),
  boot: z.string().max(256).optional(), seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});
const memberSchema = z.object({
  type: z.enum(['join', 'leave']), channel: publishChannel, user: userId, device: deviceId, conn: gatewayOrConnId, gateway: gatewayOrConnId, at: z.number().finite(),
});

/** A gateway's occupancy report (P.choccupancy). */
export function parseOccupancy(v: unknown): ChannelOccupancyEvent | undefined {
  return parseOrUndefined(occupancySchema, v);
}

/** A gateway's join / leave event (P.chpresence.<channel>), for channel.subscribed / unsubscribed webhooks. */
export function parseChannelMember(v: unknown): ChannelPresenceEvent | undefined {
  return parseOrUndefined(memberSchema, v);
}
