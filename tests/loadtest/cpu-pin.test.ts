/**
 * bench:storm --pin CLUSTER:LOAD: the cluster's processes on one CPU, the bench
 * and its load clients on another, so on a 2-core machine the clients stop
 * taking the cluster's CPU. Checked: the flag's parsing and usage errors (a
 * 1-CPU machine, bad lists), that taskset reaches every thread of a real
 * child, and, in a small pinned storm, what the kernel reports in
 * /proc/<pid>/status for every process the bench spawned, read by the test
 * itself while the storm runs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { allowedCpus, cpuListText, parseCpuList, parsePin, pinPid, PinError, threadCpus } from '../../loadtest/lib/cpu-pin.js';

const STORM = 'dist/loadtest/bench/storm.js';
const twoCpus = allowedCpus().length >= 2;

/** Cpus_allowed_list of a process, straight from the kernel. */
const cpusOf = (pid: number): string => /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;

/** Every live descendant of `root`: pid → its command line. */
function descendants(root: number): Map<number, string> {
  const parent = new Map<number, number>(), cmd = new Map<number, string>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      cmd.set(Number(d), readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch { /* gone */ }
  }
  const out = new Map<number, string>();
  const isUnder = (p: number): boolean => { for (let q = parent.get(p); q !== undefined && q > 1; q = parent.get(q)) if (q === root) return true; return false; };
  for (const [p, c] of cmd) if (isUnder(p)) out.set(p, c);
  return out;
}

describe('bench:storm --pin', () => {
  it('parses CPU lists and CLUSTER:LOAD, and refuses what cannot keep the two apart', () => {
    assert.deepEqual(parseCpuList('0'), [0]);
    assert.deepEqual(parseCpuList('3,0-1'), [0, 1, 3]);
    assert.equal(cpuListText([0, 1, 3, 5, 6, 7]), '0-1,3,5-7');
    for (const bad of ['', 'a', '2-1', '0,,1', '-1']) assert.throws(() => parseCpuList(bad), PinError, bad);
    assert.deepEqual(parsePin('0:1', [0, 1]), { cluster: [0], load: [1] });
    assert.deepEqual(parsePin('0-1:2-3', [0, 1, 2, 3]), { cluster: [0, 1], load: [2, 3] });
    assert.ok(Object.isFrozen(parsePin('0:1', [0, 1])));
    assert.throws(() => parsePin('0:1', [0]), /--pin needs at least 2 CPUs.*may run on 1 \(CPU 0\)/);
    assert.throws(() => parsePin('0:0', [0, 1]), /CPU 0 in both lists/);
    assert.throws(() => parsePin('0-1:1', [0, 1]), /CPU 1 in both lists/);
    assert.throws(() => parsePin('0:2', [0, 1]), /CPU 2 not available/);
    assert.throws(() => parsePin('0:2', [1, 2, 3]), PinError, 'CPU 0 not usable by this process');
    assert.doesNotThrow(() => parsePin('1:3', [1, 2, 3]));
    for (const bad of ['0', '0:1:2', ':1', '0:', 'x:1', 'on']) assert.throws(() => parsePin(bad, [0, 1]), /--pin takes CLUSTER:LOAD/, bad);
  });

  it('bench:storm exits 2 with a usage error before it spawns anything: bad --pin / --pin-hog, and on 1 CPU', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--pin', '0:0'], /^bench:storm: --pin takes CLUSTER:LOAD .*CPU 0 in both lists/],
      [['--pin', 'yes'], /^bench:storm: --pin takes CLUSTER:LOAD/],
      [['--pin', '0:999'], /^bench:storm: --pin takes CLUSTER:LOAD .*CPU 999 not available/],
      [['--pin', '0:1', '--pin-hog', 'both'], /^bench:storm: --pin-hog must be cluster or load/],
      [['--pin-hog', 'load'], /^bench:storm: --pin-hog needs --pin/],
    ];
    for (const [args, re] of cases) {
      const r = spawnSync(process.execPath, [STORM, ...args], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    // A 1-CPU machine, as far as the bench can tell: run it on one CPU only.
    const one = spawnSync('taskset', ['-c', String(allowedCpus()[0]), process.execPath, STORM, '--pin', '0:1'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(one.status, 2, one.stderr);
    assert.match(one.stderr, /^bench:storm: --pin needs at least 2 CPUs, one for the cluster and one for the load; this process may run on 1 \(CPU \d+\)/);
  });

  it('pinPid moves every thread of a running child, and what it forks later inherits the CPU', { skip: !twoCpus && 'needs 2 CPUs' }, async () => {
    const target = allowedCpus().at(-1)!;
    // A Node child has a dozen threads (V8 platform, libuv) before the pin; it forks a grandchild on request.
    const child = spawn(process.execPath, ['-e', `process.stdin.once('data', () => { const g = require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }); console.log(g.pid); }); setInterval(() => {}, 1000);`], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await new Promise((r) => setTimeout(r, 300));
      assert.notEqual(cpusOf(child.pid!), String(target), 'starts unpinned');
      pinPid(child.pid!, [target]);
      assert.equal(cpusOf(child.pid!), String(target));
      const threads = threadCpus(child.pid!);
      assert.ok(threads.length > 1, `threads: ${threads.length}`);
      assert.deepEqual([...new Set(threads)], [String(target)], 'every thread');
      const grandchild = new Promise<number>((r) => child.stdout!.once('data', (b: Buffer) => r(Number(String(b).trim()))));
      child.stdin!.write('go\n');
      const g = await grandchild;
      try { assert.equal(cpusOf(g), String(target), 'a later fork inherits'); } finally { process.kill(g, 'SIGKILL'); }
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a pinned storm: gateways, router, NATS, Redis and the CPU hog on CPU 0; the bench and its load clients on CPU 1 (read from /proc while it runs)', { skip: !twoCpus && 'needs 2 CPUs' }, async () => {
    const [c0, c1] = allowedCpus() as [number, number];
    const bench = spawn(process.execPath, [STORM, '--connections', '200', '--workers', '1', '--push-rate', '20', '--modes', 'fixed',
      '--connect-rate', '100', '--connect-burst', '100', '--ramp-rate', '300', '--timeout', '60', '--pin', `${c0}:${c1}`, '--cpu-hog', '0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    bench.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    bench.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    const exited = new Promise<number | null>((r) => bench.on('exit', r));
    // Watch the process tree once the storm begins (the cluster and the workers exist and are pinned by then).
    const seen = new Map<string, string>();
    const role = (cmd: string): string | undefined =>
      /gateway\/main\.js/.test(cmd) ? 'gateway' : /router\/main\.js/.test(cmd) ? 'router' : /nats-server/.test(cmd) ? 'nats' : /redis-server/.test(cmd) ? 'redis'
        : /generator\/worker\.js/.test(cmd) ? 'worker' : /cpu-hog\.js/.test(cmd) ? 'hog' : undefined;
    let done = false;
    void exited.then(() => { done = true; });
    while (!done) {
      await new Promise((r) => setTimeout(r, 200));
      if (!/SIGKILL gw0/.test(err)) continue;
      for (const [pid, cmd] of descendants(bench.pid!)) {
        const r = role(cmd);
        if (r === undefined) continue;
        try { seen.set(`${r} ${pid}`, [...new Set(threadCpus(pid))].join(' | ')); } catch { /* exited */ }
      }
      seen.set('bench', [...new Set(threadCpus(bench.pid!))].join(' | '));
      break;
    }
    assert.equal(await exited, 0, `bench:storm exited non-zero:\n${err}\n${out}`);
    const byRole = (r: string): string[] => [...seen].filter(([k]) => k.split(' ')[0] === r).map(([, v]) => v);
    for (const r of ['gateway', 'router', 'nats', 'redis', 'hog']) {
      assert.ok(byRole(r).length > 0, `saw a ${r}: ${JSON.stringify([...seen])}`);
      assert.deepEqual([...new Set(byRole(r))], [String(c0)], `${r} on the cluster's CPU: ${JSON.stringify([...seen])}`);
    }
    for (const r of ['worker', 'bench']) assert.deepEqual([...new Set(byRole(r))], [String(c1)], `${r} on the load CPU: ${JSON.stringify([...seen])}`);
    assert.equal(byRole('gateway').length, 3);
    const json = JSON.parse(out.trim().split('\n').at(-1)!) as { pin: { cluster: string; load: string; hog: string }; results: Array<{ recover_s: number; recover_vs_ideal: number; pinned: Record<string, string> }> };
    assert.deepEqual(json.pin, { cluster: String(c0), load: String(c1), hog: 'cluster' });
    const [res] = json.results;
    assert.ok(res!.recover_s > 0 && res!.recover_vs_ideal > 0, JSON.stringify(res));
    assert.equal(res!.pinned.gw1, String(c0));
    assert.equal(res!.pinned.worker0, String(c1));
  });
});
