/**
 * Protocol decoder fuzzing at scale.
 *
 *   npm run bench:fuzz                      # 2,000,000 cases, seed 1
 *   npm run bench:fuzz -- --cases 500000 --seed 7
 *
 * Each case is one generated input fed to both decodeClientFrame and
 * decodeServerFrame, with every contract checked (see fuzz-engine.ts). Runs in
 * chunks so progress shows on stderr. Prints a table per generator, then the
 * first crashes (each names the case index that reproduces it), and as the
 * last stdout line one JSON object:
 *   {"bench":"fuzz","seed":…,"cases":…,"crashes":0,"cases_per_s":…}
 * Exits 1 on any crash, 2 on bad arguments.
 */
import { runFuzz, type CrashSample, type FuzzReport, type GenStats } from './fuzz-engine.js';

const CHUNK = 250_000;

function parseArgs(argv: readonly string[]): { cases: number; seed: number } {
  const out = { cases: 2_000_000, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = Number(argv[i + 1]);
    if ((flag === '--cases' || flag === '--seed') && Number.isSafeInteger(value) && value >= (flag === '--cases' ? 1 : 0)) {
      out[flag === '--cases' ? 'cases' : 'seed'] = value;
      i++;
    } else {
      console.error(`usage: fuzz.js [--cases N>=1] [--seed S>=0]  (bad argument: ${flag ?? ''} ${argv[i + 1] ?? ''})`);
      process.exit(2);
    }
  }
  return out;
}

/** Adds one chunk's report into the running total. */
function merge(total: FuzzReport | undefined, r: FuzzReport): FuzzReport {
  if (!total) return r;
  const byGen: Record<string, GenStats> = { ...total.byGen };
  for (const [g, s] of Object.entries(r.byGen)) {
    const t = byGen[g] ?? { cases: 0, accepted: 0, rejected: 0, crashes: 0 };
    byGen[g] = { cases: t.cases + s.cases, accepted: t.accepted + s.accepted, rejected: t.rejected + s.rejected, crashes: t.crashes + s.crashes };
  }
  const accepted = { ...total.accepted };
  for (const [k, n] of Object.entries(r.accepted)) accepted[k] = (accepted[k] ?? 0) + n;
  const rejected = { ...total.rejected };
  for (const [k, n] of Object.entries(r.rejected)) rejected[Number(k)] = (rejected[Number(k)] ?? 0) + n;
  const samples: CrashSample[] = [...total.samples, ...r.samples].slice(0, 10);
  const cases = total.cases + r.cases;
  const elapsedMs = total.elapsedMs + r.elapsedMs;
  return { seed: r.seed, cases, crashes: total.crashes + r.crashes, elapsedMs, casesPerSec: cases / (elapsedMs / 1000), byGen, accepted, rejected, samples };
}

function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [headers, ...rows].map((r) => r.map((c) => (typeof c === 'number' ? c.toLocaleString('en-US') : c)));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: readonly string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

function main(): void {
  const { cases, seed } = parseArgs(process.argv.slice(2));
  let report: FuzzReport | undefined;
  for (let start = 0; start < cases; start += CHUNK) {
    const n = Math.min(CHUNK, cases - start);
    report = merge(report, runFuzz({ seed, cases: n, start, maxSamples: 10 }));
    process.stderr.write(`\r${report.cases.toLocaleString('en-US')} / ${cases.toLocaleString('en-US')} cases, ${report.crashes} crashes`);
  }
  process.stderr.write('\n');
  const r = report!;

  console.log(`\nProtocol decoder fuzz: seed ${seed}, ${r.cases.toLocaleString('en-US')} cases (each through both decoders)\n`);
  const genRows = Object.entries(r.byGen).map(([g, s]) => [g, s.cases, s.accepted, s.rejected, s.crashes] as const);
  const sum = (k: keyof GenStats): number => Object.values(r.byGen).reduce((a, s) => a + s[k], 0);
  console.log(table(['generator', 'cases', 'accepted', 'rejected', 'crashes'],
    [...genRows, ['total', sum('cases'), sum('accepted'), sum('rejected'), sum('crashes')]]));
  console.log('\n' + table(['accepted op', 'count'], Object.entries(r.accepted).sort().map(([k, n]) => [k, n])));
  console.log('\n' + table(['rejected with close code', 'count'], Object.entries(r.rejected).map(([k, n]) => [k, n])));
  console.log('\n' + table(['elapsed s', 'cases/s', 'crashes'], [[(r.elapsedMs / 1000).toFixed(1), Math.round(r.casesPerSec), r.crashes]]));
  for (const s of r.samples) {
    console.log(`\nCRASH case #${s.index} [${s.gen}, ${s.side} decoder, ${s.isBinary ? 'binary' : 'text'}]: ${s.problem}\n  input: ${s.input}`);
    console.log(`  replay: runFuzz({ seed: ${seed}, start: ${s.index}, cases: 1 })`);
  }
  console.log(JSON.stringify({ bench: 'fuzz', seed, cases: r.cases, crashes: r.crashes, cases_per_s: Math.round(r.casesPerSec) }));
  if (r.crashes > 0) process.exitCode = 1;
}

main();
