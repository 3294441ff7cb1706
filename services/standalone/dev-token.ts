/**
 * Token minting for the dev tools (standalone mode's banner and `npm run
 * token`, the client CLI, the local cluster, load tools and tests).
 * Production tokens come from the application's own auth service; the
 * gateway only verifies (services/gateway/auth.ts).
 */
import { SignJWT } from 'jose';

/** Mints an HS256 token for `user` (`sub`), optionally bound to a device (`did`) and naming channels (`channels`). */
export async function mintToken(secret: string, user: string, opts: { device?: string; ttlSeconds?: number; audience?: string; issuer?: string; channels?: string[] } = {}): Promise<string> {
  let jwt = new SignJWT({ ...(opts.device !== undefined ? { did: opts.device } : {}), ...(opts.channels !== undefined ? { channels: opts.channels } : {}) })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (opts.ttlSeconds ?? 3600));
  if (opts.audience !== undefined) jwt = jwt.setAudience(opts.audience);
  if (opts.issuer !== undefined) jwt = jwt.setIssuer(opts.issuer);
  return jwt.sign(new TextEncoder().encode(secret));
}
