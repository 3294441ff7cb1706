/**
 * The identifier rules (protocol/identifiers.ts): examples at the edges, a
 * seeded fuzz against an independent oracle (Unicode-property regexps and
 * String.prototype.isWellFormed), and the property that makes the rules
 * worth having: every accepted id survives a UTF-8 round trip unchanged (what
 * Redis, NATS and every log see), so two accepted ids never collapse into one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ID_LIMITS, checkDeviceId, checkMessageId, checkSessionId, checkTopic, checkUserId, decodeClientFrame,
} from '../../protocol/index.js';
import { Rand } from '../../loadtest/lib/rand.js';

const ok = (v: string | undefined): boolean => v === undefined;

describe('identifier rules', () => {
  it('user ids: 1-128 characters of well-formed Unicode, no whitespace or control characters', () => {
    for (const good of ['alice', 'u-1', '\ufffdvictim', 'dave.smith/ü1', '用户', '\u{1F600}'.repeat(128), 'x'.repeat(128), 'a\u200bb']) assert.ok(ok(checkUserId(good)), JSON.stringify(good));
    const bad: Array<[unknown, RegExp]> = [
      ['', /empty/], ['x'.repeat(129), /at most 128/], ['\u{1F600}'.repeat(129), /at most 128/],
      ['\ud800victim', /lone surrogate/], ['victim\ud800', /lone surrogate/], ['\udc00x', /lone surrogate/], ['\udbff\udbff', /lone surrogate/],
      ['a\u0000b', /control/], ['a\tb', /control/], ['a\u007f', /control/], ['\u0085', /control/], ['\u009f', /control/],
      ['a b', /whitespace/], ['\u00a0', /whitespace/], ['a\u2028', /whitespace/], ['\u3000', /whitespace/], ['\ufeffx', /whitespace/],
      [42, /string/], [null, /string/], [undefined, /string/],
    ];
    for (const [v, re] of bad) assert.match(checkUserId(v) ?? 'accepted', re, JSON.stringify(v));
  });

  it('device and session ids: ASCII word characters (device also dots), 1-64', () => {
    for (const good of ['phone', 'web.1', 'A_b-9', 'x'.repeat(64)]) assert.ok(ok(checkDeviceId(good)), good);
    for (const bad of ['', 'x'.repeat(65), 'a b', 'ph\u0000one', 'ü', 'a/b', '\ud800']) assert.ok(!ok(checkDeviceId(bad)), JSON.stringify(bad));
    for (const good of ['AbC_-123', 'x'.repeat(64)]) assert.ok(ok(checkSessionId(good)), good);
    for (const bad of ['', 'a.b', 'x'.repeat(65), 'a=', '\u0000']) assert.ok(!ok(checkSessionId(bad)), JSON.stringify(bad));
  });

  it('upstream topics: dot-separated non-empty words, so every topic is a deliverable NATS subject tail', () => {
    for (const good of ['chat', 'chat.room-1', 'a.b.c', 'A_1.b-2', 'x'.repeat(128)]) assert.ok(ok(checkTopic(good)), good);
    for (const bad of ['.', '..', 'a..b', '.x', 'x.', '', 'x'.repeat(129), 'a b', 'a.*', 'a.>', 'a\u0000', 'ü']) {
      assert.match(checkTopic(bad) ?? 'accepted', /joined by single dots/, JSON.stringify(bad));
    }
  });

  it('message ids: spaces allowed, control characters and lone surrogates not', () => {
    assert.ok(ok(checkMessageId('order 42 – paid')));
    for (const bad of ['', 'm\u0000', '\ud800', 'x'.repeat(129)]) assert.ok(!ok(checkMessageId(bad)), JSON.stringify(bad));
  });

  it('the gateway decoder refuses undeliverable topics with a clear reason (4008) instead of answering "sent"', () => {
    for (const topic of ['.', '..', 'a..b', '.x', 'x.']) {
      const r = decodeClientFrame(JSON.stringify({ op: 'send', id: 'm1', topic, data: null }), false);
      assert.ok(!r.ok, topic);
      if (!r.ok) assert.match(r.reason, /^send\.topic must be 1-128 characters: words of A-Z a-z 0-9 _ - joined by single dots$/, topic);
    }
    const lone = decodeClientFrame(JSON.stringify({ op: 'send', id: '\ud800', topic: 'chat', data: null }), false);
    assert.ok(!lone.ok && /send\.id must be well-formed Unicode/.test(lone.reason));
    assert.ok(decodeClientFrame(JSON.stringify({ op: 'send', id: 'm1', topic: 'chat.room-1', data: null }), false).ok);
  });
});

describe('identifier rules under fuzz', () => {
  const ALPHABET = ['a', 'Z', '0', '.', '-', '_', ' ', '\t', '\u0000', '\u007f', '\u0085', '\u00a0', '\u00e9', '\u200b', '\u2028', '\u3000', '\ufeff', '\ufffd',
    '\ud800', '\udbff', '\udc00', '\udfff', '\u{1F600}', '用'];
  /** encodeURIComponent throws URIError on a lone surrogate: an oracle independent of the module. */
  const wellFormed = (s: string): boolean => { try { encodeURIComponent(s); return true; } catch { return false; } };
  const oracleUser = (s: string): boolean =>
    wellFormed(s) && !/[\p{Cc}\s]/u.test(s) && [...s].length >= 1 && [...s].length <= ID_LIMITS.userMaxChars;
  const utf8RoundTrip = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');

  it('accepts exactly what the oracle accepts, and every accepted id survives UTF-8 unchanged (no two collapse)', () => {
    const r = new Rand(0x1d5);
    let accepted = 0;
    const seen = new Map<string, string>();
    for (let i = 0; i < 50_000; i++) {
      const n = r.chance(0.05) ? r.range(120, 140) : r.range(0, 12);
      let s = '';
      for (let j = 0; j < n; j++) s += r.chance(0.7) ? r.pick(['a', 'b', 'x', '1']) : r.pick(ALPHABET);
      const mine = ok(checkUserId(s));
      assert.equal(mine, oracleUser(s), `case ${i}: ${JSON.stringify(s)}`);
      if (mine) {
        accepted++;
        const wire = utf8RoundTrip(s);
        assert.equal(wire, s, `case ${i}: accepted but changed by UTF-8: ${JSON.stringify(s)}`);
        const prior = seen.get(wire);
        assert.ok(prior === undefined || prior === s, `${JSON.stringify(s)} and ${JSON.stringify(prior)} share one key`);
        seen.set(wire, s);
      }
      // Topics: accepted ones are words joined by single dots.
      assert.equal(ok(checkTopic(s)), s.length <= ID_LIMITS.topicMaxChars && /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(s), `topic case ${i}: ${JSON.stringify(s)}`);
    }
    assert.ok(accepted > 5_000 && accepted < 45_000, `both outcomes exercised (accepted ${accepted})`);
  });

  it('refuses "\\ud800victim", the id that would read "\\ufffdvictim"\'s inbox once UTF-8 encoded', () => {
    assert.equal(utf8RoundTrip('\ud800victim'), '\ufffdvictim', 'the collapse the rule prevents');
    assert.ok(!ok(checkUserId('\ud800victim')));
    assert.ok(ok(checkUserId('\ufffdvictim')));
  });
});
