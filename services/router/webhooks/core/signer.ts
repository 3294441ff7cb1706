/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the signed
 * content is `<webhook-id>.<webhook-timestamp>.<body>`, HMAC-SHA256 with the
 * secret's bytes (the base64 after `whsec_`), sent as `v1,<base64>`. While a
 * secret rotates, the endpoint has several and the header carries one
 * signature per secret, space-separated: a receiver that knows either one
 * verifies. The timestamp is the attempt's (seconds), so a retry hours later
 * still passes the receiver's replay window; the id stays the same.
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

const PREFIX = 'whsec_';

/** The secret's key bytes; throws RangeError naming the rule broken (never the secret). */
export function decodeSecret(secret: string): Uint8Array {
  if (!secret.startsWith(PREFIX)) throw new RangeError(`must start with "${PREFIX}"`);
  const b64 = secret.slice(PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) throw new RangeError(`must be "${PREFIX}" followed by base64`);
  const key = Buffer.from(b64, 'base64');
  if (key.length < 24 || key.length > 64) throw new RangeError(`must hold 24 to 64 bytes of key (got ${key.length})`);
  return new Uint8Array(key);
}

/** A secret's KeyObject, made once per secret (about 20 % off each HMAC against passing the bytes every time). */
const keys = new WeakMap<Uint8Array, KeyObject>();
function keyObject(secret: Uint8Array): KeyObject {
  let k = keys.get(secret);
  if (k === undefined) { k = createSecretKey(secret); keys.set(secret, k); }
  return k;
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** Every header of one delivery attempt: content type, user agent and the three signed ones. */
export function deliveryHeaders(id: string, nowSeconds: number, body: string, secrets: readonly Uint8Array[]): Record<string, string> {
  return { 'content-type': 'application/json', 'user-agent': 'longlink-webhooks', ...signWebhook(id, nowSeconds, body, secrets) };
}

/** The three Standard Webhooks headers for one attempt. `nowSeconds`: the attempt's wall-clock time. */
export function signWebhook(id: string, nowSeconds: number, body: string, secrets: readonly Uint8Array[]): SignedHeaders {
  const ts = String(Math.floor(nowSeconds));
  const content = `${id}.${ts}.${body}`;
  let sigs = '';
  for (const k of secrets) sigs += (sigs === '' ? 'v1,' : ' v1,') + createHmac('sha256', keyObject(k)).update(content, 'utf8').digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': sigs };
}
