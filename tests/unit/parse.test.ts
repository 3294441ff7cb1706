import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { parseOrUndefined } from '../../services/shared/parse.js';
import { parseAcks, parseResumeRequest, parseUpstream } from '../../services/router/schemas.js';

describe('parseOrUndefined', () => {
  const schema = z.object({ n: z.number().int(), tag: z.string().default('none'), at: z.string().transform((s) => s.length) });

  it('returns the schema output: defaults applied, transforms run, typed as the output', () => {
    const v = parseOrUndefined(schema, { n: 3, at: 'abc' });
    // Type-level: the result is the schema's output type or undefined.
    const typed: { n: number; tag: string; at: number } | undefined = v;
    assert.deepEqual(typed, { n: 3, tag: 'none', at: 3 });
  });

  it('returns undefined for anything that does not match, without throwing', () => {
    for (const bad of [undefined, null, 42, 'x', [], {}, { n: 1.5, at: 'a' }, { n: 1 }]) {
      assert.equal(parseOrUndefined(schema, bad), undefined, JSON.stringify(bad));
    }
  });

  it('backs the bus-message parsers (same results as before)', () => {
    assert.deepEqual(parseAcks({ acks: [['u1', 'd1', 3], ['u2', 'd2', 4, 1]] }), [['u1', 'd1', 3], ['u2', 'd2', 4, 1]]);
    assert.equal(parseAcks({ acks: [['u1', 'd1', -1]] }), undefined);
    assert.deepEqual(
      parseResumeRequest({ user: 'u', device: 'd', gateway: 'g', conn: 'c', session: null, lastSeq: null, lastEpoch: null }),
      { user: 'u', device: 'd', gateway: 'g', conn: 'c', session: undefined, lastSeq: undefined },
    );
    const up = parseUpstream({ user: 'u', device: 'd', conn: 'c', gateway: 'g', topic: 't', id: '1', data: { a: 1 } });
    assert.deepEqual(up?.data, { a: 1 });
    assert.equal(parseUpstream({ user: 'u' }), undefined);
  });

  it('parseAcks takes [user, device, seq] and [user, device, seq, epoch] and refuses anything else', () => {
    const u = 'u1', d = 'd1';
    assert.deepEqual(parseAcks({ acks: [], other: 1 }), []);
    assert.deepEqual(parseAcks({ acks: [[u, d, 0], [u, d, Number.MAX_SAFE_INTEGER, 0]] }), [[u, d, 0], [u, d, Number.MAX_SAFE_INTEGER, 0]]);
    const bad: unknown[] = [
      undefined, null, 'x', [], {}, { acks: {} }, { acks: 'x' }, { acks: [null] }, { acks: [{}] },
      { acks: [[u, d]] }, { acks: [[u, d, 1, 1, 1]] }, { acks: [[u, d, 1.5]] }, { acks: [[u, d, 1, -1]] }, { acks: [[u, d, 1, 0.5]] },
      { acks: [[u, d, '1']] }, { acks: [[u, d, Number.MAX_SAFE_INTEGER + 1]] }, { acks: [[u, d, Infinity]] }, { acks: [[u, d, NaN]] },
      { acks: [[1, d, 1]] }, { acks: [[u, 2, 1]] }, { acks: [['', d, 1]] }, { acks: [[u, '', 1]] }, { acks: [['a\u0000b', d, 1]] },
      { acks: [[u, d, 1], [u, d, -1]] }, { acks: Array.from({ length: 100_001 }, () => [u, d, 1]) },
    ];
    for (const v of bad) assert.equal(parseAcks(v), undefined, JSON.stringify(v)?.slice(0, 80));
    assert.equal(parseAcks({ acks: Array.from({ length: 100_000 }, () => [u, d, 1]) })?.length, 100_000);
  });
});
