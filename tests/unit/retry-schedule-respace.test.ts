/**
 * RetrySchedule re-spaces the refusals booked ahead when the measured rate
 * changes (retry-schedule.ts): later refusals follow the new rate instead of
 * queueing behind slots spaced for the rate of the first seconds. Time is
 * passed in (the schedule is pure), randomness fixed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RetrySchedule } from '../../services/gateway/core/retry-schedule.js';

const opts = { maxMs: 10_000, minWaitMs: 500, periodMs: 1000, headroom: 1.25 };
const zero = (): number => 0;

describe('RetrySchedule follows the recovering rate', () => {
  it('capacity rises: a refusal after the rate was re-measured is booked at the new spacing, not behind the old one', () => {
    const s = new RetrySchedule(opts, 0);
    // 500 refused at once while the limit supports 100/s: slots 500 ms … 5.5 s.
    for (let i = 0; i < 500; i++) s.refuse(0, zero, 100);
    assert.equal(Math.round(s.horizonMs(0)), 5500);
    // Within the first second the limit regrew: 400 admitted (1.25 × 400 = 500/s).
    for (let i = 0; i < 400; i++) s.admit(i * 2);
    // At 1 s, 450 of the booked are still ahead (4.5 s at 100/s); at 500/s they take 0.9 s.
    const w = s.refuse(1000, zero, 100);
    assert.equal(s.rate, 500);
    assert.ok(w >= 500 && w <= 1000, `booked ~0.9 s ahead at the new rate, not 4.5 s behind slots of the old one: ${w} ms`);
    // Refusals within the same period keep their order and spacing (2 ms at 500/s).
    assert.equal(s.refuse(1000, zero, 100) - w, 2);
  });

  it('capacity falls after it rose: the booked crowd is not re-spaced later (a dip would send later refusals to the horizon)', () => {
    const s = new RetrySchedule(opts, 0);
    for (let i = 0; i < 500; i++) s.refuse(0, zero, 100); // slots 0.5 … 5.5 s at 100/s
    for (let i = 0; i < 400; i++) s.admit(i * 2); // the rate rises to 500/s
    const w = s.refuse(1000, zero, 100);
    assert.ok(w <= 1000, `re-spaced earlier: ${w} ms`);
    for (let i = 0; i < 600; i++) s.refuse(1000, zero, 100); // 1.2 s more at 500/s: booked to ~3.1 s
    // In the next second starts fail and nothing is admitted: the rate falls back towards the floor (50/s).
    const horizon = s.horizonMs(2000);
    const later = s.refuse(2000, zero, 50);
    assert.ok(later <= Math.max(500, horizon) + 1, `not pushed later than the booked slots: ${later} ms, horizon ${horizon} ms`);
  });
});
