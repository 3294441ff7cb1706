/**
 * loadtest/lib/kill-on-exit.ts: a bench's children die with it. A real
 * parent process registers the helper, then starts a child that would
 * otherwise outlive it (its own process, not waited for); the parent ends
 * (on its own, or by SIGTERM with exitOnSignal) and the child must be gone.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const HELPER = new URL('../../loadtest/lib/kill-on-exit.js', import.meta.url).href;

/**
 * The parent: registers the helper BEFORE the child exists (the list is read at exit), prints the
 * child's pid, then either ends on its own once its stdin closes ('return'), or waits to be signalled ('signal').
 */
const parentScript = (mode: 'return' | 'signal'): string => `
import { spawn } from 'node:child_process';
const { killOnExit } = await import(${JSON.stringify(HELPER)});
let child;
killOnExit(() => [undefined, child], { exitOnSignal: ${mode === 'signal'} });
child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
child.unref();
process.stdout.write(child.pid + '\\n');
${mode === 'signal' ? 'setInterval(() => {}, 1000);' : 'process.stdin.resume();'}
`;

/** Gone, or a zombie nobody reaped yet (a container's pid 1 may never reap it): either way no longer running. */
function running(pid: number): boolean {
  try { process.kill(pid, 0); } catch { return false; }
  try { return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; }
}

async function runParent(mode: 'return' | 'signal'): Promise<{ childPid: number; code: number | null }> {
  const p = spawn(process.execPath, ['--input-type=module', '-e', parentScript(mode)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const childPid = await new Promise<number>((resolve, reject) => {
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('\n')) resolve(Number(out.trim())); });
    p.once('exit', () => reject(new Error(`parent exited before printing the child's pid: ${out}`)));
  });
  assert.ok(running(childPid), 'the child runs while the parent does');
  const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
  if (mode === 'signal') p.kill('SIGTERM');
  else p.stdin.end();
  return { childPid, code: await exited };
}

async function expectGone(pid: number): Promise<void> {
  try {
    for (let i = 0; i < 50 && running(pid); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(running(pid), false, `child ${pid} outlived its parent`);
  } finally {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

describe('killOnExit', () => {
  it('kills a child started after registering when the parent ends on its own', async () => {
    const { childPid, code } = await runParent('return');
    assert.equal(code, 0);
    await expectGone(childPid);
  });

  it('with exitOnSignal: SIGTERM kills the children and exits with 130', async () => {
    const { childPid, code } = await runParent('signal');
    assert.equal(code, 130);
    await expectGone(childPid);
  });
});
