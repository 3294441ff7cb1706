/**
 * ResumeRead on Redis: position, replay start and first chunk in one Lua
 * call on the user's keys (lua-resume.ts), one round trip where the Inbox's
 * calls took two or three. Passes the same contract suite as the composed
 * memory version. Called only after the resume's presence step has been
 * answered, so which connection it goes on does not matter for the
 * resume's ordering (core/gateway-events.ts).
 */
import type { Clock } from '../../../shared/clock.js';
import type { PushRecord } from '../../core/inbox.js';
import type { ResumeFrom, ResumeRead, ResumeStart } from '../../core/resume-read.js';
import type { RedisStoreOptions } from '../shared.js';
import { DEFAULT_PREFIX, UserKeys } from './keys.js';
import { RESUME_READ } from './lua-resume.js';
import { asArray, asNumber, asString, defineHotScript, nowArg, type RunScript } from './script.js';

/** A seq argument Lua can parse: NaN and ±Infinity become what RedisInbox.since makes of them (from the start; nothing). A non-finite epoch is stale ('-1'). */
const seqArg = (n: number): string => (Number.isNaN(n) ? '-1' : n === Infinity ? '9007199254740991' : n === -Infinity ? '-1' : String(n));

/** The first chunk's size as Lua reads it: NaN or negative is 0 (position only, as RedisInbox.since reads nothing); Infinity is capped. */
const limitArg = (n: number): number => { const f = Math.floor(n); return f >= 0 ? Math.min(f, Number.MAX_SAFE_INTEGER) : 0; };

export class RedisResumeRead implements ResumeRead {
  private readonly keys: UserKeys;
  private readonly clock: Clock | undefined;
  private readonly script: RunScript;

  constructor(opts: RedisStoreOptions) {
    this.keys = new UserKeys(opts.prefix ?? DEFAULT_PREFIX);
    this.clock = opts.clock;
    // The inbox's route (the lean connection when there is one, lean-pipe.ts): it reads the inbox's keys.
    this.script = defineHotScript(opts.redis, 'resume_read', RESUME_READ);
  }

  async start(user: string, device: string, from: ResumeFrom, limit: number): Promise<ResumeStart> {
    const k = this.keys;
    const r = asArray(await this.script([k.seq(user), k.epoch(user), k.inbox(user), k.acks(user)], [
      nowArg(this.clock), device, from.resumed ? '1' : '', from.lastSeq === undefined ? '' : seqArg(from.lastSeq),
      from.lastEpoch === undefined ? '' : Number.isFinite(from.lastEpoch) ? String(from.lastEpoch) : '-1',
      limitArg(limit),
    ]));
    const recordsEpoch = asNumber(r[4]);
    const first: PushRecord[] = [];
    for (let i = 5; i + 3 < r.length; i += 4) {
      first.push({ seq: asNumber(r[i]), id: asString(r[i + 1]), ts: asNumber(r[i + 2]), data: asString(r[i + 3]), epoch: recordsEpoch });
    }
    return { pos: { seq: asNumber(r[0]), epoch: asNumber(r[1]) }, after: asNumber(r[3]), stale: asNumber(r[2]) === 1, first };
  }
}
