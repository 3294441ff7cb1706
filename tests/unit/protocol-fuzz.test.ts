/**
 * Seeded fuzzing of both protocol decoders (engine: loadtest/bench/fuzz-engine.ts;
 * the same engine runs millions of cases in `npm run bench:fuzz`).
 *
 * The seed is fixed so a failure reproduces exactly: the report names the case
 * index, and `runFuzz({ seed, start: index, cases: 1 })` replays it.
 * LONGLINK_FUZZ_SEED / LONGLINK_FUZZ_CASES override seed and count locally.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeClientFrame, decodeServerFrame, type ClientFrame, type ServerFrame } from '../../protocol/index.js';
import { Rand, generateCase, runFuzz, type Decoder } from '../../loadtest/bench/fuzz-engine.js';

const SEED = Number(process.env.LONGLINK_FUZZ_SEED ?? 0x4c4c3031); // 'LL01'
const CASES = Number(process.env.LONGLINK_FUZZ_CASES ?? 120_000);

test('the PRNG and the case generator are deterministic', () => {
  const a = new Rand(42);
  const b = new Rand(42);
  const xs = Array.from({ length: 1000 }, () => a.next());
  assert.deepEqual(Array.from({ length: 1000 }, () => b.next()), xs);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.ok(new Set(xs).size > 990, 'no short cycle');
  for (const i of [0, 1, 77, 99_999]) assert.deepEqual(generateCase(SEED, i), generateCase(SEED, i));
  assert.notDeepEqual(generateCase(SEED, 1), generateCase(SEED + 1, 1));
});

test(`decoders survive ${CASES} fuzz cases without a broken contract`, () => {
  const report = runFuzz({ seed: SEED, cases: CASES, maxSamples: 5 });
  const detail = report.samples.map((s) => `#${s.index} [${s.gen}/${s.side}] ${s.problem}\n  input: ${s.input}`).join('\n');
  assert.equal(report.crashes, 0, `seed ${SEED}: ${report.crashes} crashes\n${detail}`);

  // Coverage: the fuzzer must reach the success path of every frame type and
  // both failure codes the decoders can return, or passing proves little.
  const ops = ['client:heartbeat', 'client:ack', 'client:send', 'client:refresh', 'server:hello', 'server:refreshed', 'server:heartbeat_ack',
    'server:push', 'server:reconnect', 'server:error', 'server:sent', 'server:reply'];
  for (const op of ops) assert.ok((report.accepted[op] ?? 0) > 50, `${op} accepted only ${report.accepted[op] ?? 0} times`);
  assert.ok((report.rejected[4008] ?? 0) > CASES / 2, 'INVALID_FRAME rejections');
  assert.ok((report.rejected[4010] ?? 0) > 0, 'UNSUPPORTED_PROTOCOL rejections');
  for (const [gen, s] of Object.entries(report.byGen)) {
    assert.ok(s.cases > 0, `generator ${gen} ran`);
    assert.equal(s.accepted + s.rejected, 2 * s.cases, `${gen}: both decoders answered every case`);
  }
  const acceptedMutants = report.byGen.mutated?.accepted ?? 0;
  assert.ok(acceptedMutants > 0, 'some mutations stay valid (exercises round trips of odd frames)');
});

test('the engine reports decoders that throw or break the result contract', () => {
  let calls = 0;
  const throwing: Decoder<ClientFrame> = (data, isBinary) => {
    if (++calls % 10 === 0) throw new Error('boom');
    return decodeClientFrame(data, isBinary);
  };
  const r1 = runFuzz({ seed: 1, cases: 500, decoders: { client: throwing } });
  assert.ok(r1.crashes > 0);
  assert.ok(r1.samples.some((s) => s.problem.includes('threw Error: boom') && s.side === 'client'));

  const undefinedCode: Decoder<ClientFrame> = (data, isBinary) => {
    const r = decodeClientFrame(data, isBinary);
    return r.ok ? r : { ok: false, code: 4999, reason: r.reason };
  };
  assert.ok(runFuzz({ seed: 1, cases: 200, decoders: { client: undefinedCode } }).samples.some((s) => s.problem.includes('undefined close code 4999')));

  // A decoder whose accepted pushes do not survive a round trip.
  const corrupting: Decoder<ServerFrame> = (data, isBinary) => {
    const r = decodeServerFrame(data, isBinary);
    return r.ok && r.frame.op === 'push' ? { ok: true, frame: { ...r.frame, seq: -1 } } : r;
  };
  const r3 = runFuzz({ seed: 1, cases: 2000, decoders: { server: corrupting } });
  assert.ok(r3.samples.some((s) => s.side === 'server' && s.problem.startsWith('re-encoded frame rejected: push')));
});
