/**
 * Shared by the server harnesses (nats.ts, redis.ts): free loopback ports,
 * and a guard that SIGKILLs every spawned server when the test process
 * exits, so a crashed test never leaves servers behind.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';

/** Free loopback ports, all held open at once so they are distinct (ephemeral range: never a standard port). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(0, '127.0.0.1', () => resolve()); });
      const addr = s.address();
      if (addr === null || typeof addr === 'string') throw new Error('unexpected listen address');
      ports.push(addr.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

const live = new Set<ChildProcess>();
let hooked = false;

/** Kills `child` with the test process; forgets it when it exits. */
export function guardChild(child: ChildProcess): void {
  if (!hooked) {
    hooked = true;
    process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
}
