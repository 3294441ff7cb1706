/**
 * Synchronous JWS (compact) verification with node:crypto.
 *
 * Why not jose's jwtVerify: it is async (WebCrypto), and completing a uWS
 * upgrade asynchronously needs res.cork(() => res.upgrade()), which in the
 * uWS.js 20.30 build we pin can close the fresh socket at random
 * (uNetworking/uWebSockets#1928). Verifying synchronously lets the upgrade
 * happen inside the upgrade handler, which is also faster. jose still mints
 * tokens and the tests cross-check this verifier against it.
 *
 * Security rules: the algorithm must be in the allow-list AND match the key's
 * type (no HS/RS confusion); "none" and `crit` headers are refused; exp is
 * required; nbf/iat in the future (beyond the clock tolerance) are refused.
 */
import { createHmac, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto';

export type Alg = 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'ES256' | 'ES384' | 'EdDSA';
export const SUPPORTED_ALGS: readonly Alg[] = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'];

export class JwtError extends Error {
  constructor(readonly reason: 'malformed' | 'algorithm' | 'signature' | 'expired' | 'claims' | 'unknown-key') {
    super(reason);
    this.name = 'JwtError';
  }
}

export interface JwtClaims {
  sub?: unknown;
  exp?: unknown;
  nbf?: unknown;
  iat?: unknown;
  aud?: unknown;
  iss?: unknown;
  [k: string]: unknown;
}

export interface VerifyOptions {
  algorithms: readonly Alg[];
  audience?: string | undefined;
  issuer?: string | undefined;
  clockToleranceS?: number;
  nowS?: () => number;
}

/** Resolves the verification key for a header; `kid` matters only for key sets. */
export type KeyResolver = (alg: Alg, kid: string | undefined) => KeyObject | Buffer | undefined;

function b64json(part: string): Record<string, unknown> {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) throw new JwtError('malformed');
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new JwtError('malformed');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new JwtError('malformed');
  return v as Record<string, unknown>;
}

function hashOf(alg: Alg): string {
  return alg.endsWith('384') ? 'sha384' : alg.endsWith('512') ? 'sha512' : 'sha256';
}

/** The key type an algorithm demands: prevents using an RSA public key as an HMAC secret and the like. */
function keyFits(alg: Alg, key: KeyObject | Buffer): boolean {
  if (alg.startsWith('HS')) return Buffer.isBuffer(key);
  if (Buffer.isBuffer(key) || key.type !== 'public') return false;
  const t = key.asymmetricKeyType;
  if (alg.startsWith('RS') || alg.startsWith('PS')) return t === 'rsa' || t === 'rsa-pss';
  if (alg === 'ES256') return t === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  if (alg === 'ES384') return t === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'secp384r1';
  if (alg === 'EdDSA') return t === 'ed25519' || t === 'ed448';
  return false;
}

function signatureValid(alg: Alg, key: KeyObject | Buffer, signingInput: string, sig: Buffer): boolean {
  if (alg.startsWith('HS')) {
    const mac = createHmac(hashOf(alg), key as Buffer).update(signingInput).digest();
    return mac.length === sig.length && timingSafeEqual(mac, sig);
  }
  const data = Buffer.from(signingInput);
  const k = key as KeyObject;
  if (alg === 'EdDSA') return cryptoVerify(null, data, k, sig);
  if (alg.startsWith('ES')) return cryptoVerify(hashOf(alg), data, { key: k, dsaEncoding: 'ieee-p1363' }, sig);
  if (alg.startsWith('PS')) return cryptoVerify(hashOf(alg), data, { key: k, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 }, sig);
  return cryptoVerify(hashOf(alg), data, k, sig);
}

/** Verifies signature and registered claims; returns the payload. Throws JwtError. */
export function verifyJwt(token: string, resolveKey: KeyResolver, o: VerifyOptions): JwtClaims {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('malformed');
  const [h, p, s] = parts as [string, string, string];
  const header = b64json(h);
  const alg = header.alg;
  if (typeof alg !== 'string' || !(SUPPORTED_ALGS as readonly string[]).includes(alg) || !o.algorithms.includes(alg as Alg)) throw new JwtError('algorithm');
  if (header.crit !== undefined) throw new JwtError('malformed');
  if (header.kid !== undefined && typeof header.kid !== 'string') throw new JwtError('malformed');
  const key = resolveKey(alg as Alg, header.kid as string | undefined);
  if (key === undefined) throw new JwtError('unknown-key');
  if (!keyFits(alg as Alg, key)) throw new JwtError('algorithm');
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new JwtError('malformed');
  let ok: boolean;
  try {
    ok = signatureValid(alg as Alg, key, `${h}.${p}`, Buffer.from(s, 'base64url'));
  } catch {
    ok = false;
  }
  if (!ok) throw new JwtError('signature');
  const claims = b64json(p) as JwtClaims;
  const now = (o.nowS ?? (() => Date.now() / 1000))();
  const tol = o.clockToleranceS ?? 5;
  if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) throw new JwtError('claims');
  if (claims.exp <= now - tol) throw new JwtError('expired');
  if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > now + tol)) throw new JwtError('claims');
  if (claims.iat !== undefined && (typeof claims.iat !== 'number' || claims.iat > now + tol)) throw new JwtError('claims');
  if (o.issuer !== undefined && claims.iss !== o.issuer) throw new JwtError('claims');
  if (o.audience !== undefined) {
    const aud = claims.aud;
    const ok2 = typeof aud === 'string' ? aud === o.audience : Array.isArray(aud) && aud.includes(o.audience);
    if (!ok2) throw new JwtError('claims');
  }
  return claims;
}
