/**
 * Behaviours every Sessions implementation must have (see inbox.contract.ts
 * for how time and ids are handled).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { SessionLimits, Sessions } from '../../services/router/core/sessions.js';

export interface SessionsHarness {
  sessions: Sessions;
  advance(ms: number): Promise<void>;
}

export type SessionsFactory = (limits: Partial<SessionLimits>) => Promise<SessionsHarness>;

const uid = (name: string): string => `${name}-${randomUUID().slice(0, 8)}`;

export function sessionsContract(name: string, factory: SessionsFactory, cleanup?: () => Promise<void>): void {
  describe(`Sessions contract: ${name}`, () => {
    const opened: Sessions[] = [];
    const make = async (limits: Partial<SessionLimits> = {}): Promise<SessionsHarness> => {
      const h = await factory(limits);
      opened.push(h.sessions);
      return h;
    };
    after(async () => {
      for (const s of opened) await s.close();
      await cleanup?.();
    });

    it('opens a new, unguessable session when none is requested', async () => {
      const { sessions } = await make();
      const u = uid('u');
      const a = await sessions.open(u, 'phone');
      const b = await sessions.open(uid('v'), 'phone');
      assert.equal(a.resumed, false);
      assert.ok(a.session.length >= 16, 'at least 16 characters');
      assert.notEqual(a.session, b.session);
    });

    it('new ids are 22 base64url characters and never repeat (more opens than one draw of randomness covers)', async () => {
      const { sessions } = await make();
      const ids = await Promise.all(Array.from({ length: 600 }, (_, i) => sessions.open(uid(`many${i}`), 'phone').then((o) => o.session)));
      for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{22}$/);
      assert.equal(new Set(ids).size, ids.length);
    });

    it('resumes the stored session of the same user and device', async () => {
      const { sessions } = await make();
      const u = uid('u');
      const { session } = await sessions.open(u, 'phone');
      assert.deepEqual(await sessions.open(u, 'phone', session), { session, resumed: true });
      assert.deepEqual(await sessions.open(u, 'phone', session), { session, resumed: true }, 'resumable again');
    });

    it('rejects an unknown id with a new session, which replaces the old one', async () => {
      const { sessions } = await make();
      const u = uid('u');
      const first = await sessions.open(u, 'phone');
      const bad = await sessions.open(u, 'phone', 'not-a-session');
      assert.equal(bad.resumed, false);
      assert.notEqual(bad.session, 'not-a-session');
      assert.notEqual(bad.session, first.session);
      assert.equal((await sessions.open(u, 'phone', first.session)).resumed, false, 'the replaced session is gone');
    });

    it("does not resume another device's or another user's session", async () => {
      const { sessions } = await make();
      const [u, v] = [uid('u'), uid('v')];
      const phone = await sessions.open(u, 'phone');
      const tablet = await sessions.open(u, 'tablet');
      assert.equal((await sessions.open(u, 'tablet', phone.session)).resumed, false);
      assert.equal((await sessions.open(v, 'phone', phone.session)).resumed, false);
      assert.equal((await sessions.open(u, 'phone', phone.session)).resumed, true, "a failed attempt on another device leaves this one's session alone");
      assert.notEqual(tablet.session, phone.session);
    });

    it('expires a session ttlMs after it was last opened', async () => {
      const { sessions, advance } = await make({ ttlMs: 400 });
      const u = uid('u');
      const { session } = await sessions.open(u, 'phone');
      await advance(250);
      assert.equal((await sessions.open(u, 'phone', session)).resumed, true, 'resuming extends the TTL');
      await advance(250);
      assert.equal((await sessions.open(u, 'phone', session)).resumed, true);
      await advance(500);
      assert.equal((await sessions.open(u, 'phone', session)).resumed, false);
    });

    it('touch extends the current session only', async () => {
      const { sessions, advance } = await make({ ttlMs: 400 });
      const u = uid('u');
      const { session } = await sessions.open(u, 'phone');
      await advance(250);
      assert.equal(await sessions.touch(u, 'phone', session), true);
      assert.equal(await sessions.touch(u, 'phone', 'other'), false);
      assert.equal(await sessions.touch(u, 'tablet', session), false);
      await advance(250);
      assert.equal((await sessions.open(u, 'phone', session)).resumed, true);
    });

    it('drop forgets one device or every device', async () => {
      const { sessions } = await make();
      const u = uid('u');
      const phone = await sessions.open(u, 'phone');
      const tablet = await sessions.open(u, 'tablet');
      const laptop = await sessions.open(u, 'laptop');
      await sessions.drop(u, 'phone');
      assert.equal((await sessions.open(u, 'phone', phone.session)).resumed, false);
      assert.equal((await sessions.open(u, 'tablet', tablet.session)).resumed, true);
      await sessions.drop(u);
      assert.equal((await sessions.open(u, 'tablet', tablet.session)).resumed, false);
      assert.equal((await sessions.open(u, 'laptop', laptop.session)).resumed, false);
    });

    it('concurrent resumes of one session all succeed', async () => {
      const { sessions } = await make();
      const u = uid('u');
      const { session } = await sessions.open(u, 'phone');
      const res = await Promise.all(Array.from({ length: 10 }, () => sessions.open(u, 'phone', session)));
      assert.ok(res.every((r) => r.resumed && r.session === session));
    });
  });
}
