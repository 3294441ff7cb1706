/** Spawns a Longlink entry point as a real child process and reads its banner. */
import { spawn, type ChildProcess } from 'node:child_process';

export interface Spawned {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first match of `re` in stdout+stderr. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/** `node` defaults to this process's Node (the native-uws test runs another one); `nodeArgs` go before the script (e.g. --cpu-prof, which NODE_OPTIONS may not carry). */
export function spawnNode(script: string, env: Record<string, string>, args: string[] = [], node = process.execPath, nodeArgs: string[] = []): Spawned {
  const child = spawn(node, [...nodeArgs, script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const listeners: Array<() => void> = [];
  const onData = (d: Buffer): void => { out += d.toString('utf8'); for (const l of [...listeners]) l(); };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.on('exit', (code, signal) => { exit = { code, signal }; for (const l of [...listeners]) l(); });
  const wait = <T>(get: () => T | undefined, timeoutMs: number, what: string): Promise<T> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out waiting for ${what}; output:\n${out}`)); }, timeoutMs);
    const check = (): void => { const v = get(); if (v !== undefined) { cleanup(); resolve(v); } };
    const cleanup = (): void => { clearTimeout(timer); const i = listeners.indexOf(check); if (i >= 0) listeners.splice(i, 1); };
    listeners.push(check);
    check();
  });
  return {
    child,
    output: () => out,
    waitFor: (re, timeoutMs = 15_000) => wait(() => out.match(re) ?? (exit ? (() => { throw new Error(`process exited (${exit.code}) before ${re}; output:\n${out}`); })() : undefined), timeoutMs, String(re)),
    exited: (timeoutMs = 15_000) => wait(() => exit, timeoutMs, 'exit'),
    kill: (signal = 'SIGKILL') => { if (exit === undefined) child.kill(signal); },
  };
}
