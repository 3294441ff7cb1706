/**
 * A bench's child processes die with it. A bench forks load workers and
 * starts gateways and routers; if it ends without stopping them (a thrown
 * error, the watchdog's process.exit, Ctrl-C) they would go on holding
 * ports, sockets and CPU on a machine other runs share, and skew the next
 * measurement.
 *
 * Contract: `killOnExit(children)` adds one listener for this process's
 * 'exit' event that SIGKILLs every process `children()` lists then.
 * `children` is called at exit, not now, so lists that are reassigned or
 * filled later, and a cluster started later, are covered; `undefined`
 * entries (not started yet) are skipped, as are processes whose exitCode or
 * signalCode says they are gone. SIGKILL because an 'exit' listener runs
 * synchronously: there is no waiting for a graceful stop, and a child that
 * ignored SIGTERM would outlive the bench. A graceful stop (cluster.stop(),
 * a --cpu-prof profile written on SIGTERM) stays the bench's own business
 * before it exits.
 *
 * `exitOnSignal`: SIGINT and SIGTERM also kill the children, then exit with
 * status 130 (without it, those signals keep Node's default or the bench's
 * own handlers). Returns the kill function itself, for signal handlers and
 * watchdogs that want the children gone earlier; calling it again is harmless.
 *
 * The NATS and Redis servers of a cluster guard themselves
 * (infra/local/children.ts).
 */

/** A child process, or a harness wrapper of one (infra/local/process.ts Spawned, whose kill() checks itself). */
export interface Killable {
  kill(signal?: NodeJS.Signals): unknown;
  exitCode?: number | null;
  signalCode?: NodeJS.Signals | null;
}

/** What a cluster harness (infra/local/cluster-harness.ts) holds: its gateway and router processes. */
export interface ClusterProcs {
  gateways: ReadonlyArray<{ proc: Killable }>;
  routers: ReadonlyArray<{ proc: Killable }>;
}

/** The gateway and router processes of `cluster` (none before it is started). */
export function clusterProcs(cluster: ClusterProcs | undefined): Killable[] {
  return cluster === undefined ? [] : [...cluster.gateways, ...cluster.routers].map((x) => x.proc);
}

export function killOnExit(children: () => Iterable<Killable | undefined>, opts: { exitOnSignal?: boolean } = {}): () => void {
  const killAll = (): void => {
    for (const c of children()) {
      if (c === undefined || (c.exitCode !== undefined && c.exitCode !== null) || (c.signalCode !== undefined && c.signalCode !== null)) continue;
      c.kill('SIGKILL');
    }
  };
  process.on('exit', killAll);
  if (opts.exitOnSignal === true) for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { killAll(); process.exit(130); });
  return killAll;
}
