/**
 * The session contract: one resumable session id per (user, device).
 *
 * A session id is what lets a reconnecting client say "I am the same client
 * as before, send me what I missed after seq N" (docs/protocol.md §7). The
 * check is deliberately narrow: the id must equal the one stored for this
 * exact user and device and must not have expired. Anything else is a fresh
 * session, which is not an error: the client gets a new id and the
 * undelivered inbox.
 *
 * Implementations: ../stores/memory/sessions.ts and ../stores/redis/sessions.ts
 * (key layout in ../stores/redis/keys.ts).
 */

export interface SessionOpen {
  /** The session to use from now on: `requested` when resumed, otherwise a new id. */
  session: string;
  resumed: boolean;
}

export interface SessionLimits {
  /** A session can be resumed for this long after it was last opened or touched (ms). */
  ttlMs: number;
}

export const DEFAULT_SESSION_LIMITS: Readonly<SessionLimits> = Object.freeze({ ttlMs: 24 * 3600_000 });

export interface Sessions {
  /**
   * Resumes `requested` if it is the stored, unexpired session of this user
   * and device (and extends its TTL); otherwise stores and returns a new
   * random id, replacing whatever was stored.
   */
  open(user: string, device: string, requested?: string): Promise<SessionOpen>;

  /**
   * Extends the TTL of `session` if it is still the current one for this
   * user and device (called on disconnect, so the TTL counts from the last
   * time the client was seen). Returns whether it was.
   */
  touch(user: string, device: string, session: string): Promise<boolean>;

  /** Forgets the session of one device, or of every device of the user (logout). */
  drop(user: string, device?: string): Promise<void>;

  close(): Promise<void>;
}
