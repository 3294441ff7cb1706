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
});
