/** ReturnLine (services/gateway/core/return-line.ts): tickets by client, kept past their time, bounded, swept in order. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReturnLine, returnKey } from '../../services/gateway/core/return-line.js';
import { AdmissionControl, RETURN_TICKETS_PER_USER, type Admission } from '../../services/gateway/core/admission.js';

describe('ReturnLine', () => {
  it('remembers a return time until keepMs after it, and forgets a used ticket', () => {
    const l = new ReturnLine({ maxEntries: 10, keepMs: 1000 });
    assert.equal(l.book('a', 500), true);
    assert.equal(l.dueAt('a', 0), 500);
    assert.equal(l.dueAt('a', 1500), 500, 'kept up to keepMs after its time');
    assert.equal(l.dueAt('a', 1501), undefined, 'then a new arrival');
    assert.equal(l.size, 0, 'dropped on lookup');
    l.book('b', 100);
    l.forget('b');
    assert.equal(l.dueAt('b', 0), undefined);
  });

  it('is bounded: a booking past maxEntries is not remembered; re-booking moves a client to the end', () => {
    const l = new ReturnLine({ maxEntries: 2, keepMs: 1000 });
    assert.equal(l.book('a', 100), true);
    assert.equal(l.book('b', 200), true);
    assert.equal(l.book('c', 300), false);
    assert.equal(l.dueAt('c', 0), undefined);
    assert.equal(l.book('a', 400), true, 'a client already in the line is re-booked');
    assert.equal(l.dueAt('a', 0), 400);
    l.sweep(1250);
    assert.equal(l.dueAt('b', 0), undefined, 'b (expired at 1200) swept');
    assert.equal(l.dueAt('a', 0), 400, 'a (re-booked, expires at 1400) kept');
  });

  it('a sweep drops every expired ticket, also those booked after one kept longer (a long router shed)', () => {
    const l = new ReturnLine({ maxEntries: 3, keepMs: 10_000 });
    l.book('shed', 30_000);
    l.book('a', 500);
    l.book('b', 1500);
    l.sweep(12_000);
    assert.equal(l.size, 1, 'a and b expired at 10.5 and 11.5 s');
    assert.equal(l.book('c', 12_500), true, 'their room is free for new refusals');
  });

  it('holds at most maxPerUser tickets for one user; a used, expired or swept ticket frees its place', () => {
    const l = new ReturnLine({ maxEntries: 100, keepMs: 1000, maxPerUser: 2 });
    assert.equal(l.book(returnKey('u', 'd1'), 100), true);
    assert.equal(l.book(returnKey('u', 'd2'), 100), true);
    assert.equal(l.book(returnKey('u', 'made-up'), 100), false, 'a third device of the same user is not remembered');
    assert.equal(l.dueAt(returnKey('u', 'made-up'), 0), undefined);
    assert.equal(l.book(returnKey('v', 'd1'), 100), true, 'another user is not affected');
    assert.equal(l.book(returnKey('u', 'd1'), 200), true, 're-booking a device it holds does not count twice');
    assert.equal(l.size, 3);
    l.forget(returnKey('u', 'd1'));
    assert.equal(l.book(returnKey('u', 'd3'), 2000), true, 'a used ticket frees its place');
    assert.equal(l.dueAt(returnKey('u', 'd2'), 1101), undefined, 'd2 expired (looked up at 1101 on the injected clock)');
    assert.equal(l.book(returnKey('u', 'd4'), 2000), true, 'an expired ticket frees its place');
    assert.equal(l.book(returnKey('u', 'd5'), 2000), false);
    l.sweep(3001);
    assert.equal(l.size, 0);
    assert.equal(l.book(returnKey('u', 'd5'), 4000), true, 'swept tickets free their places');
    assert.equal(l.book(returnKey('u', 'd6'), 4000), true);
  });

  it('keys by user and device', () => {
    assert.notEqual(returnKey('u', 'd1'), returnKey('u', 'd2'));
  });
});

describe('AdmissionControl and the return line', () => {
  // Limit pinned at 4 (floor = ceiling); at target 5 s the schedule books one return a second: slots 0.5, 1.5 … 9.5 s.
  const control = (connectBurst = 1000): AdmissionControl => new AdmissionControl({
    maxConnections: 1000, connectRate: connectBurst === 1000 ? 1000 : 0.001, connectBurst, maxStarting: 4, startTargetMs: 5000,
    resumeTimeoutMs: 30_000, sourceRate: 0, sourceBurst: 1,
  }, 0, () => 0);
  const fill = (a: AdmissionControl): void => {
    for (let i = 0; i < 4; i++) { assert.equal(a.admitVerified(0, returnKey(`h${i}`, 'd')).ok, true); a.startBegan(0); }
  };
  const waitOf = (r: Admission): number => (r.ok ? -1 : r.retryAfterMs ?? -1);

  it('a client told a wait past the horizon (no slot reserved) has no claim above the full limit: the booked client on time gets it', () => {
    const a = control();
    fill(a);
    const booked = Array.from({ length: 10 }, (_, i) => waitOf(a.admitVerified(0, returnKey(`c${i}`, 'd'))));
    assert.deepEqual(booked, [500, 1500, 2500, 3500, 4500, 5500, 6500, 7500, 8500, 9500]);
    const u = a.admitVerified(0, returnKey('unbooked', 'd'));
    assert.equal(waitOf(u), 10_000, 'no slot within the horizon: told the horizon, nothing reserved');
    // Both back on their time, the limit still full (one start of overshoot room).
    const late = a.admitVerified(10_000, returnKey('unbooked', 'd'));
    assert.equal(late.ok, false, 'the unbooked client is not admitted over the limit');
    assert.equal(waitOf(late), 500, 'it takes a slot now');
    assert.equal(a.admitVerified(10_000, returnKey('c9', 'd')).ok, true, 'the client the schedule booked for 9.5 s is');
    assert.equal(a.admittedOnReturn, 1);
  });

  it('a router shed with a hint past the horizon reserves no slot either', () => {
    const a = control();
    fill(a);
    const ms = a.shedReturnMs(0, 30_000, returnKey('shed', 'd'));
    assert.ok(ms >= 30_000);
    assert.equal(a.admitVerified(ms, returnKey('shed', 'd')).ok, false, 'back on its time into a full limit: refused, booked now');
  });

  it('a long router shed does not keep the expired 503 tickets booked after it (gauge, bound)', () => {
    const a = control();
    fill(a);
    a.shedReturnMs(0, 30_000, returnKey('shed', 'd'));
    for (let i = 0; i < 10; i++) a.admitVerified(0, returnKey(`c${i}`, 'd'));
    assert.equal(a.returns.size, 11);
    a.tick(25_000);
    assert.equal(a.returns.size, 1, 'the ten 503s expired by 20 s');
  });

  it('one token naming made-up devices holds at most RETURN_TICKETS_PER_USER tickets', () => {
    const a = control();
    fill(a);
    for (let i = 0; i < 40; i++) assert.equal(a.admitVerified(0, returnKey('greedy', `fake${i}`)).ok, false);
    assert.equal(a.returns.size, RETURN_TICKETS_PER_USER, 'the other devices were refused but not remembered');
    assert.equal(a.admitVerified(0, returnKey('honest', 'd')).ok, false);
    assert.equal(a.returns.size, RETURN_TICKETS_PER_USER + 1, 'another user still gets a ticket');
    assert.equal(a.returns.dueAt(returnKey('greedy', 'fake39'), 1), undefined, 'a made-up device past the cap holds no place');
  });

  it('admitted_on_return counts only clients admitted: one the connect-rate ceiling refuses is not counted and keeps its ticket', () => {
    const a = control(4);
    fill(a);
    assert.equal(waitOf(a.admitVerified(0, returnKey('c', 'd'))), 500);
    const r = a.admitVerified(500, returnKey('c', 'd'));
    assert.ok(!r.ok && r.error.code === 'LL_ADMISSION_RATE', `refused by the connect rate: ${JSON.stringify(r)}`);
    assert.equal(a.admittedOnReturn, 0);
    assert.equal(a.returns.dueAt(returnKey('c', 'd'), 500), 500, 'its place is kept');
  });

  it('the line is looked at only when the limit is full: an upgrade with room costs no lookup, and still uses a ticket up', () => {
    const a = control();
    let finds = 0;
    let forgets = 0;
    const find = a.returns.find.bind(a.returns);
    const forget = a.returns.forget.bind(a.returns);
    a.returns.find = (client, now) => { finds++; return find(client, now); };
    a.returns.forget = (client) => { forgets++; forget(client); };
    for (let i = 0; i < 4; i++) assert.equal(a.admitVerified(0, returnKey(`h${i}`, 'd')).ok, true);
    assert.deepEqual([finds, forgets], [0, 0], 'room, empty line: no lookup, nothing to forget');
    a.startBegan(0); a.startBegan(0); a.startBegan(0); a.startBegan(0);
    assert.equal(waitOf(a.admitVerified(0, returnKey('c', 'd'))), 500, 'full: refused and booked');
    assert.equal(finds, 1, 'full: the ticket is looked up');
    // Room again (the four starts end), the client comes back early: admitted, its ticket used up as before.
    for (let i = 0; i < 4; i++) a.startEnded(0, 10, 'ok');
    assert.equal(a.admitVerified(100, returnKey('c', 'd')).ok, true);
    assert.equal(finds, 1, 'room: no lookup');
    assert.equal(a.returns.dueAt(returnKey('c', 'd'), 100), undefined, 'the ticket is used up');
    assert.equal(a.returns.size, 0);
  });

  it('a router shed past its user\'s tickets books no slot: another client\'s shed is not pushed to the horizon', () => {
    // At target 100 ms the schedule books 40 returns a second (25 ms slots).
    const a = new AdmissionControl({
      maxConnections: 1000, connectRate: 1000, connectBurst: 1000, maxStarting: 4, startTargetMs: 100, resumeTimeoutMs: 30_000, sourceRate: 0, sourceBurst: 1,
    }, 0, () => 0);
    const own = Array.from({ length: 16 }, (_, i) => a.shedReturnMs(0, 500, returnKey('mallory', `d${i}`)));
    const past = Array.from({ length: 500 }, (_, i) => a.shedReturnMs(0, 500, returnKey('mallory', `made-up-${i}`)));
    assert.equal(a.returns.size, 16);
    assert.ok(past.every((ms) => ms >= Math.max(...own)), 'past its tickets: told to come back after the line');
    const other = a.shedReturnMs(0, 500, returnKey('other', 'phone'));
    assert.ok(other < 1000, `the other client's shed is told ${other} ms (the previous code: the 10 s horizon)`);
    assert.equal(a.returns.find(returnKey('other', 'phone'), 0)?.booked, true, 'in a reserved slot');
  });
});
