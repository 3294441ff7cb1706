/**
 * The JetStream queue's message layout (job-codec.ts): several jobs per
 * message, bodies copied as they are (any UTF-8, newlines, tabs), the
 * previous one-job JSON layout still read, and malformed messages refused
 * whole.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJobs, encodeJobs, type QueuedJob } from '../../services/router/webhooks/job-codec.js';

const job = (n: number, body: string, more: Partial<QueuedJob> = {}): QueuedJob => ({ id: `msg_${n}`, type: 'push.offline', createdAt: 1_796_446_862_345 + n, body, attempts: 0, notBefore: 0, ...more });

describe('webhook job codec', () => {
  it('round-trips several jobs, bodies byte for byte', () => {
    const jobs = [
      job(1, '{"type":"push.offline","data":{"text":"hello"}}'),
      job(2, '{"a":"line\\nbreak\\ttab","b":"é€😀 raw\nnewline\tand tab"}', { attempts: 3, notBefore: 1_796_446_900_000 }),
      job(3, ''),
    ];
    const back = decodeJobs(encodeJobs(jobs));
    assert.deepEqual(back, jobs);
  });

  it('reads a subarray of a larger buffer (as NATS hands messages over)', () => {
    const enc = encodeJobs([job(1, '{"x":1}')]);
    const big = Buffer.concat([Buffer.from('garbage'), enc, Buffer.from('more')]);
    assert.deepEqual(decodeJobs(big.subarray(7, 7 + enc.length)), [job(1, '{"x":1}')]);
  });

  it('still reads the previous layout (one job as JSON)', () => {
    const legacy = Buffer.from(JSON.stringify({ id: 'msg_old', endpoint: 'e', type: 'connection.opened', createdAt: 5, body: '{"type":"connection.opened"}' }));
    assert.deepEqual(decodeJobs(legacy), [{ id: 'msg_old', type: 'connection.opened', createdAt: 5, body: '{"type":"connection.opened"}', attempts: 0, notBefore: 0 }]);
  });

  it('refuses malformed messages whole: truncated, wrong lengths, unknown layouts, empty', () => {
    const enc = encodeJobs([job(1, '{"x":1}'), job(2, '{"y":2}')]);
    assert.equal(decodeJobs(enc.subarray(0, enc.length - 3)), undefined, 'truncated');
    assert.equal(decodeJobs(Buffer.from(enc.toString('utf8').replace('\t7\n', '\t9\n'))), undefined, 'length off');
    assert.equal(decodeJobs(Buffer.from('LLWH1\n')), undefined, 'no job');
    assert.equal(decodeJobs(Buffer.from('LLWH1\nmsg_1\tpush.offline\tx\t0\t0\t2\n{}\n')), undefined, 'bad number');
    assert.equal(decodeJobs(Buffer.from('something else')), undefined);
    assert.equal(decodeJobs(Buffer.from('{"id":1}')), undefined, 'legacy without fields');
    assert.equal(decodeJobs(Buffer.from('{not json')), undefined);
    assert.equal(decodeJobs(new Uint8Array(0)), undefined);
  });
});
