/**
 * Redis key layout of the router's stores (see each store for what lives in
 * its keys).
 *
 * Per-user keys carry the hash tag `{u:<user>}`, so all of one user's keys
 * share a cluster slot and one Lua script may touch them atomically:
 *
 *   <prefix>:{u:<user>}:seq            string  INCR counter; never expires
 *   <prefix>:{u:<user>}:epoch          string  the sequence's epoch (server TIME in µs), set when seq is created; never expires
 *   <prefix>:{u:<user>}:inbox          stream  id "<seq>-0", fields id ts data exp
 *   <prefix>:{u:<user>}:acks           hash    device → cursor
 *   <prefix>:{u:<user>}:idem:<key>     hash    seq id ts data of the first append
 *   <prefix>:{u:<user>}:sessions       hash    device → "<expiresAt>|<session>"
 *   <prefix>:{u:<user>}:presence       hash    JSON [gateway, conn] → JSON entry
 *   <prefix>:{u:<user>}:tomb           zset    JSON [gateway, conn] scored by expiry
 *
 * Gateway-level keys share the tag `{gw}` (one slot), so the lease scripts
 * can read and purge any gateway atomically:
 *
 *   <prefix>:{gw}:leases               zset    gateway scored by lease expiry
 *   <prefix>:{gw}:gw:<gateway>         hash    last beacon, seen, epoch
 *   <prefix>:{gw}:conns:<epoch>        set     JSON [user, conn] of the gateway's entries
 *   <prefix>:{gw}:epoch                string  INCR counter for gateway epochs (seeded from TIME in µs when missing)
 *
 * The hash tag is the text between the first `{` and the next `}`. User ids
 * may contain any character, so `%`, `{` and `}` are percent-encoded in the
 * tag: the encoding is injective (no two users share keys) and the tag can
 * never end early. Anything after the tag (idempotency keys, gateway ids) is
 * used raw: braces there do not affect the slot.
 */

export const DEFAULT_PREFIX = 'll';

/** `%` → `%25`, `{` → `%7B`, `}` → `%7D`. */
export function escapeTag(s: string): string {
  // Most ids hold none of the three: no replace (and no callback per match) on the push path.
  return TAG_SPECIAL.test(s) ? s.replace(/[%{}]/g, (c) => (c === '%' ? '%25' : c === '{' ? '%7B' : '%7D')) : s;
}
const TAG_SPECIAL = /[%{}]/;

export function checkPrefix(prefix: string): string {
  if (prefix === '' || /[{}\s]/.test(prefix)) {
    throw new RangeError(`redis key prefix must be non-empty without braces or spaces (it precedes the hash tag): ${JSON.stringify(prefix)}`);
  }
  return prefix;
}

export class UserKeys {
  constructor(private readonly prefix: string) {
    checkPrefix(prefix);
  }

  /** What every key of the user starts with (the key names below append to it). */
  base(user: string): string {
    return `${this.prefix}:{u:${escapeTag(user)}}:`;
  }

  seq(user: string): string { return `${this.base(user)}seq`; }
  epoch(user: string): string { return `${this.base(user)}epoch`; }
  inbox(user: string): string { return `${this.base(user)}inbox`; }
  acks(user: string): string { return `${this.base(user)}acks`; }
  idem(user: string, key: string): string { return `${this.base(user)}idem:${key}`; }
  sessions(user: string): string { return `${this.base(user)}sessions`; }
  presence(user: string): string { return `${this.base(user)}presence`; }
  tomb(user: string): string { return `${this.base(user)}tomb`; }
}

export class GatewayKeys {
  /** Passed to the gateway scripts, which derive `gw:<id>` and `conns:<epoch>` keys from it (same slot). */
  readonly base: string;

  constructor(prefix: string) {
    this.base = `${checkPrefix(prefix)}:{gw}:`;
  }

  get leases(): string { return `${this.base}leases`; }
  get epoch(): string { return `${this.base}epoch`; }
  info(gateway: string): string { return `${this.base}gw:${gateway}`; }
  conns(epoch: string): string { return `${this.base}conns:${epoch}`; }
}
