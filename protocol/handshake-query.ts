/**
 * The handshake's query string (docs/protocol.md §2.2) and subprotocol list
 * (§2.1), one builder for every client: the SDK's connection and the load
 * tools (Node drivers and k6).
 *
 * Pure string code (no `URL`, no `URLSearchParams`): k6 has neither, and the
 * k6 scripts bundle this module. Values are percent-encoded with
 * `encodeURIComponent`, which the gateway's query parser decodes.
 */

import { SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX } from './frames.js';

/** Subprotocols to offer (§2.1, §3): `longlink.v1`, plus `longlink.token.<jwt>` when the token travels there. */
export function handshakeSubprotocols(token?: string): string[] {
  return token === undefined ? [SUBPROTOCOL] : [SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX + token];
}

/** Every query parameter the gateway reads in the handshake, in the order the builder writes them. */
export const HANDSHAKE_PARAMS = Object.freeze(['access_token', 'device', 'hb', 'session', 'last_seq', 'epoch', 'channels', 'recover'] as const);
export type HandshakeParam = (typeof HANDSHAKE_PARAMS)[number];

export interface HandshakeParams {
  /** The token, when it travels in the query rather than as a subprotocol (§3). */
  accessToken?: string | undefined;
  /** Device id (§2.4). */
  device?: string | undefined;
  /** Heartbeat interval to ask for (ms); rounded, since the gateway takes integers only. */
  hbMs?: number | undefined;
  /** Resume (§7): `session` and `last_seq` always together, `epoch` only with them. */
  resume?: { session: string; lastSeq: number; epoch?: number | undefined } | undefined;
  /** `channels=1`: the client speaks channel frames (§13). */
  channels?: boolean | undefined;
  /** `recover=1`: a `recover` frame follows hello (§13.4); implies channels, so `channels` is then left out. */
  recover?: boolean | undefined;
}

/** The handshake parameters as `k=v&k=v` (no leading `?`); empty when there are none. */
export function handshakeQuery(p: HandshakeParams): string {
  const q: string[] = [];
  const add = (k: HandshakeParam, v: string | number): void => { q.push(`${k}=${encodeURIComponent(String(v))}`); };
  if (p.accessToken !== undefined) add('access_token', p.accessToken);
  if (p.device !== undefined) add('device', p.device);
  if (p.hbMs !== undefined) add('hb', Math.round(p.hbMs));
  if (p.resume !== undefined) {
    add('session', p.resume.session);
    add('last_seq', p.resume.lastSeq);
    if (p.resume.epoch !== undefined) add('epoch', p.resume.epoch);
  }
  if (p.recover === true) add('recover', 1);
  else if (p.channels === true) add('channels', 1);
  return q.join('&');
}

const HANDSHAKE_NAMES: ReadonlySet<string> = new Set(HANDSHAKE_PARAMS);

/** A query parameter's name as the gateway reads it (form decoding: `+` is a space, then percent-decoding). */
function paramName(pair: string): string {
  const eq = pair.indexOf('=');
  const raw = (eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, ' ');
  try { return decodeURIComponent(raw); } catch { return raw; }
}

/**
 * `url` with the handshake parameters of `p`. Handshake parameters already in
 * `url` are removed first (an app's URL must not carry a stale `session` or a
 * second `hb` the gateway might read instead); every other parameter, and a
 * fragment, stay as they were.
 */
export function withHandshakeQuery(url: string, p: HandshakeParams): string {
  const hashAt = url.indexOf('#');
  const fragment = hashAt < 0 ? '' : url.slice(hashAt);
  const noFragment = hashAt < 0 ? url : url.slice(0, hashAt);
  const qAt = noFragment.indexOf('?');
  const base = qAt < 0 ? noFragment : noFragment.slice(0, qAt);
  const kept = qAt < 0 ? [] : noFragment.slice(qAt + 1).split('&').filter((pair) => pair !== '' && !HANDSHAKE_NAMES.has(paramName(pair)));
  const ours = handshakeQuery(p);
  const query = [...kept, ...(ours === '' ? [] : [ours])].join('&');
  return base + (query === '' ? '' : `?${query}`) + fragment;
}
