/** Channel names, the channel frames' codecs, and a fuzz of their decoders (never a throw, never a bad frame accepted). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  BROADCAST_CHANNEL, Close, checkChannel, checkPublishChannel, decodeClientFrame, decodeServerFrame, encodeJson, encodePubRaw, isEpoch, type RecoverFrame,
} from '../../protocol/index.js';
import { newEpoch } from '../../services/router/stores/shared.js';

describe('channel names', () => {
  it('accepts dotted words of A-Z a-z 0-9 _ - : @, and nothing else', () => {
    for (const ok of ['room:42', 'news.eu', 'tenant@acme.alerts', 'a', 'x'.repeat(128), 'a-b_c.d:e']) assert.equal(checkChannel(ok), undefined, ok);
    for (const bad of ['', '.', 'a..b', '.a', 'a.', 'a b', 'a*', 'a>', '{a}', '$all', 'é', 'x'.repeat(129), 7, null]) assert.notEqual(checkChannel(bad), undefined, String(bad));
  });
  it('the broadcast channel is publishable but not subscribable by name', () => {
    assert.notEqual(checkChannel(BROADCAST_CHANNEL), undefined);
    assert.equal(checkPublishChannel(BROADCAST_CHANNEL), undefined);
  });
});

describe('channel epochs (router stores)', () => {
  it('are 12 base64url characters that the protocol accepts, never repeated across pool refills', () => {
    const seen = new Set<string>();
    // 3,000 epochs: several refills of the 512-epoch pool of random bytes.
    for (let i = 0; i < 3000; i++) {
      const e = newEpoch();
      assert.match(e, /^[A-Za-z0-9_-]{12}$/);
      assert.ok(isEpoch(e), e);
      seen.add(e);
    }
    assert.equal(seen.size, 3000);
  });
});

describe('channel frames', () => {
  it('pub from raw data decodes to the same frame as encodeJson', () => {
    const raw = encodePubRaw('room:1', 7, 'ep0ch', 'm"1', 1700, '{"a":[1,2]}');
    const frame = { op: 'pub', channel: 'room:1', offset: 7, epoch: 'ep0ch', id: 'm"1', ts: 1700, data: { a: [1, 2] } } as const;
    assert.equal(raw, encodeJson(frame));
    assert.deepEqual(decodeServerFrame(raw, false), { ok: true, frame });
  });
  it('subscribed, unsubscribed and recover round-trip; malformed ones fail with 4008', () => {
    for (const f of [
      { op: 'subscribed', channel: 'a', offset: 0, epoch: 'e' }, { op: 'subscribed', channel: '$all', offset: 3, epoch: 'e', recovered: false },
      { op: 'unsubscribed', channel: 'a' }, { op: 'unsubscribed', channel: 'a', error: 'LL_CHANNEL_LIMIT' },
    ] as const) assert.deepEqual(decodeServerFrame(encodeJson(f), false), { ok: true, frame: f });
    const rec: RecoverFrame = { op: 'recover', channels: [{ channel: 'a', offset: 3, epoch: 'e-1' }] };
    assert.deepEqual(decodeClientFrame(encodeJson(rec), false), { ok: true, frame: rec });
    for (const bad of [
      { op: 'recover' }, { op: 'recover', channels: [{ channel: 'a b', offset: 1, epoch: 'e' }] }, { op: 'recover', channels: [{ channel: 'a', offset: -1, epoch: 'e' }] },
      { op: 'recover', channels: [{ channel: 'a', offset: 1, epoch: 'e.x' }] }, { op: 'recover', channels: Array.from({ length: 257 }, () => ({ channel: 'a', offset: 1, epoch: 'e' })) },
    ]) {
      const d = decodeClientFrame(JSON.stringify(bad), false);
      assert.equal(d.ok, false, JSON.stringify(bad).slice(0, 80));
      if (!d.ok) assert.equal(d.code, Close.INVALID_FRAME);
    }
    for (const bad of [{ op: 'pub', channel: 'a', offset: 1, epoch: 'e', id: 'x', ts: 1 }, { op: 'pub', channel: 'a', offset: 1.5, epoch: 'e', id: 'x', ts: 1, data: 1 }, { op: 'subscribed', channel: 'a', offset: 0, epoch: '' }]) {
      assert.equal(decodeServerFrame(JSON.stringify(bad), false).ok, false, JSON.stringify(bad));
    }
    assert.equal(isEpoch('x'.repeat(33)), false);
  });
  it('fuzz: mutated channel frames never throw, and whatever decodes re-encodes to a frame that decodes the same', () => {
    const seeds = [
      encodePubRaw('room:1', 7, 'ep', 'm1', 1700, '{"a":1}'), encodeJson({ op: 'subscribed', channel: 'a', offset: 1, epoch: 'e', recovered: true }),
      encodeJson({ op: 'recover', channels: [{ channel: 'a', offset: 3, epoch: 'e' }] }), encodeJson({ op: 'unsubscribed', channel: 'a', error: 'LL_X' }),
    ];
    let seed = 42;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const alphabet = '{}[]":,.-0123456789abcdeopub$ \\\u0000\ud800';
    for (let i = 0; i < 20_000; i++) {
      const chars = [...seeds[rnd(seeds.length)]!];
      for (let k = rnd(4) + 1; k > 0; k--) {
        const at = rnd(chars.length + 1);
        const op = rnd(3);
        if (op === 0) chars.splice(at, 1);
        else if (op === 1) chars.splice(at, 0, alphabet[rnd(alphabet.length)]!);
        else chars[at] = alphabet[rnd(alphabet.length)]!;
      }
      const text = chars.join('');
      for (const decode of [decodeServerFrame, decodeClientFrame] as const) {
        const d = decode(text, false);
        if (d.ok) assert.deepEqual(decode(encodeJson(d.frame), false), d, text);
      }
    }
  });
});
