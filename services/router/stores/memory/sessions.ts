/**
 * In-process Sessions for standalone mode and tests. Expiry reads the
 * injected clock; expired entries are removed when next read.
 */
import type { Clock } from '../../../shared/clock.js';
import { newSessionId } from '../shared.js';
import { DEFAULT_SESSION_LIMITS, type SessionLimits, type SessionOpen, type Sessions } from '../../core/sessions.js';

interface Stored {
  session: string;
  expiresAt: number;
}

/** 16 random bytes, base64url: 22 characters, 128 bits, unguessable. */
export class MemorySessions implements Sessions {
  /** user → device → session */
  private readonly users = new Map<string, Map<string, Stored>>();
  private readonly limits: SessionLimits;
  private opensSinceSweep = 0;

  private readonly clock: Clock;

  constructor(opts: { clock: Clock } & Partial<SessionLimits>) {
    const { clock, ...limits } = opts;
    this.clock = clock;
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...limits };
  }

  private current(user: string, device: string, now: number): Stored | undefined {
    const devices = this.users.get(user);
    const s = devices?.get(device);
    if (devices && s && s.expiresAt <= now) {
      devices.delete(device);
      if (devices.size === 0) this.users.delete(user);
      return undefined;
    }
    return s;
  }

  async open(user: string, device: string, requested?: string): Promise<SessionOpen> {
    const now = this.clock.now();
    const s = this.current(user, device, now);
    if (s && requested !== undefined && s.session === requested) {
      s.expiresAt = now + this.limits.ttlMs;
      return { session: s.session, resumed: true };
    }
    // Sessions of devices that never come back are only found by a scan; amortise it.
    if (++this.opensSinceSweep >= 4096) this.sweep(now);
    const session = newSessionId();
    let devices = this.users.get(user);
    if (!devices) {
      devices = new Map();
      this.users.set(user, devices);
    }
    devices.set(device, { session, expiresAt: now + this.limits.ttlMs });
    return { session, resumed: false };
  }

  private sweep(now: number): void {
    this.opensSinceSweep = 0;
    for (const [user, devices] of this.users) {
      for (const [device, s] of devices) if (s.expiresAt <= now) devices.delete(device);
      if (devices.size === 0) this.users.delete(user);
    }
  }

  async touch(user: string, device: string, session: string): Promise<boolean> {
    const now = this.clock.now();
    const s = this.current(user, device, now);
    if (!s || s.session !== session) return false;
    s.expiresAt = now + this.limits.ttlMs;
    return true;
  }

  async drop(user: string, device?: string): Promise<void> {
    if (device === undefined) {
      this.users.delete(user);
      return;
    }
    const devices = this.users.get(user);
    devices?.delete(device);
    if (devices?.size === 0) this.users.delete(user);
  }

  async close(): Promise<void> {
    this.users.clear();
  }
}
