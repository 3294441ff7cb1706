/**
 * Client authentication. Verification is synchronous (see jwt-verify.ts for
 * why) against one of: an HS256 shared secret, a PEM public key (RS256 /
 * EdDSA / ES256…), or a JWKS URL whose keys are fetched and refreshed in the
 * background. `sub` is the user id; `did` (optional) the device id; `exp` is
 * required. Failures carry a catalogue code and never include the token.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { checkChannel, checkDeviceId, checkUserId } from '../../protocol/index.js';
import { Errors, LonglinkError } from '../shared/errors.js';
import { JwtError, SUPPORTED_ALGS, verifyJwt, type Alg, type KeyResolver } from './jwt-verify.js';

export interface VerifiedToken {
  user: string;
  device: string | undefined;
  /** Epoch ms. */
  expiresAt: number;
  /** The `channels` claim: channels this connection receives (docs/protocol.md §13.1), de-duplicated. */
  channels?: string[];
}

/** Channels a `channels` claim may list before it is refused outright (the per-connection limit is the gateway's, and lower). */
const MAX_CLAIMED_CHANNELS = 1000;

/** The `channels` claim: absent, or an array of channel names (protocol/identifiers.ts). */
function claimedChannels(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > MAX_CLAIMED_CHANNELS) throw new LonglinkError(Errors.AUTH_INVALID_TOKEN, `channels must be an array of at most ${MAX_CLAIMED_CHANNELS} channel names`);
  for (const ch of v) {
    const bad = checkChannel(ch);
    if (bad !== undefined) throw new LonglinkError(Errors.AUTH_INVALID_TOKEN, `channels entry ${bad}`);
  }
  return [...new Set(v as string[])];
}

export interface Authenticator {
  /** Synchronous; throws LonglinkError (401, or 503 while JWKS keys are unavailable). */
  verify(token: string): VerifiedToken;
  /** False until a JWKS has been fetched once (always true for static keys). */
  ready(): boolean;
  close(): void;
}

export interface AuthOptions {
  secret?: string | undefined;
  publicKeyPem?: string | undefined;
  jwksUrl?: string | undefined;
  algorithms: readonly string[];
  audience?: string | undefined;
  issuer?: string | undefined;
  /** JWKS refresh period and the minimum gap between refreshes triggered by unknown key ids. */
  jwksRefreshMs?: number;
  jwksCooldownMs?: number;
  log?: { warn(obj: object, msg: string): void };
}

/** Tokens longer than this are rejected before any crypto (bounded work per upgrade). */
export const MAX_TOKEN_LENGTH = 8192;

function algs(list: readonly string[], fallback: Alg[]): Alg[] {
  const out = list.length > 0 ? list : fallback;
  for (const a of out) {
    if (!(SUPPORTED_ALGS as readonly string[]).includes(a)) throw new LonglinkError(Errors.CONFIG_INVALID, `unsupported JWT algorithm "${a}" (supported: ${SUPPORTED_ALGS.join(', ')})`);
  }
  return out as Alg[];
}

/** Keys from a JWKS URL: fetched at start, refreshed periodically and on unknown key ids (rate-limited). */
class JwksKeys {
  private byKid = new Map<string, KeyObject>();
  private all: KeyObject[] = [];
  private loadedAt = 0;
  private lastAttempt = 0;
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout;

  constructor(private readonly url: string, private readonly cooldownMs: number, refreshMs: number, private readonly log?: AuthOptions['log']) {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), refreshMs);
    this.timer.unref();
  }

  get loaded(): boolean { return this.loadedAt > 0; }

  refresh(): Promise<void> {
    this.lastAttempt = Date.now();
    this.inflight ??= (async () => {
      try {
        // No redirects: a hop to another host (or to plain http) would let it choose the keys.
        const res = await fetch(this.url, { signal: AbortSignal.timeout(5000), redirect: 'error' });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const body = (await res.json()) as { keys?: unknown };
        if (!Array.isArray(body.keys)) throw new Error('no "keys" array');
        const byKid = new Map<string, KeyObject>();
        const all: KeyObject[] = [];
        for (const jwk of body.keys as Array<JsonWebKey & { kid?: string; use?: string }>) {
          if (jwk.use !== undefined && jwk.use !== 'sig') continue;
          try {
            const k = createPublicKey({ key: jwk, format: 'jwk' });
            all.push(k);
            if (typeof jwk.kid === 'string') byKid.set(jwk.kid, k);
          } catch { /* skip keys Node can't import */ }
        }
        this.byKid = byKid;
        this.all = all;
        this.loadedAt = Date.now();
      } catch (err) {
        this.log?.warn({ url: this.url, err: String(err) }, 'JWKS refresh failed; keeping the previous keys');
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  /** Returns the key, or undefined; an unknown kid triggers a (rate-limited) refresh. */
  resolve(kid: string | undefined): KeyObject | undefined {
    const k = kid !== undefined ? this.byKid.get(kid) : this.all.length === 1 ? this.all[0] : undefined;
    if (k === undefined && Date.now() - this.lastAttempt >= this.cooldownMs) void this.refresh();
    return k;
  }

  /** Whether a refresh may still bring this kid (so the client should retry rather than give up). */
  mayLearn(): boolean {
    return this.inflight !== undefined || Date.now() - this.lastAttempt < 1000;
  }

  close(): void { clearInterval(this.timer); }
}

export function createAuthenticator(o: AuthOptions): Authenticator {
  let resolve: KeyResolver;
  let allowed: Alg[];
  let jwks: JwksKeys | undefined;
  if (o.secret !== undefined) {
    const secret = Buffer.from(o.secret, 'utf8');
    allowed = algs(o.algorithms, ['HS256']);
    resolve = () => secret;
  } else if (o.publicKeyPem !== undefined) {
    const key = createPublicKey(o.publicKeyPem);
    allowed = algs(o.algorithms, ['RS256', 'EdDSA', 'ES256']);
    resolve = () => key;
  } else if (o.jwksUrl !== undefined) {
    const keys = new JwksKeys(o.jwksUrl, o.jwksCooldownMs ?? 30_000, o.jwksRefreshMs ?? 600_000, o.log);
    jwks = keys;
    allowed = algs(o.algorithms, ['RS256', 'EdDSA', 'ES256']);
    resolve = (_alg, kid) => keys.resolve(kid);
  } else {
    throw new LonglinkError(Errors.CONFIG_INVALID, 'no JWT key configured');
  }
  if (allowed.some((a) => a.startsWith('HS')) && o.secret === undefined) throw new LonglinkError(Errors.CONFIG_INVALID, 'HS* algorithms need LONGLINK_JWT_SECRET');
  const opts = { algorithms: allowed, audience: o.audience, issuer: o.issuer };

  return {
    verify(token: string): VerifiedToken {
      if (token.length === 0) throw new LonglinkError(Errors.AUTH_MISSING_TOKEN);
      if (token.length > MAX_TOKEN_LENGTH) throw new LonglinkError(Errors.AUTH_INVALID_TOKEN, 'token too long');
      if (jwks && !jwks.loaded) throw new LonglinkError(Errors.AUTH_KEYS_UNAVAILABLE);
      let claims;
      try {
        claims = verifyJwt(token, resolve, opts);
      } catch (err) {
        if (!(err instanceof JwtError)) throw new LonglinkError(Errors.AUTH_INVALID_TOKEN);
        if (err.reason === 'expired') throw new LonglinkError(Errors.AUTH_TOKEN_EXPIRED);
        if (err.reason === 'unknown-key' && jwks?.mayLearn()) throw new LonglinkError(Errors.AUTH_KEYS_UNAVAILABLE, 'unknown key id; keys are being refreshed');
        throw new LonglinkError(Errors.AUTH_INVALID_TOKEN, err.reason);
      }
      // Identifier rules (protocol/identifiers.ts): the same string must reach every store and header unchanged.
      const badSub = checkUserId(claims.sub);
      if (badSub !== undefined) throw new LonglinkError(Errors.AUTH_INVALID_TOKEN, `sub ${badSub}`);
      const did = claims.did;
      const badDid = did === undefined ? undefined : checkDeviceId(did);
      if (badDid !== undefined) throw new LonglinkError(Errors.AUTH_INVALID_TOKEN, `did ${badDid}`);
      const channels = claimedChannels(claims.channels);
      return { user: claims.sub as string, device: did as string | undefined, expiresAt: (claims.exp as number) * 1000, ...(channels ? { channels } : {}) };
    },
    ready: () => jwks === undefined || jwks.loaded,
    close: () => jwks?.close(),
  };
}
