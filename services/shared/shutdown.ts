/**
 * SIGTERM/SIGINT handling shared by every process: run `stop` once, exit 0
 * when it resolves, exit 1 if it fails or the hard deadline passes first.
 */
export function onShutdown(stop: (signal: string) => Promise<void>, deadlineMs: number, log: { info(o: object, m: string): void; error(o: object, m: string): void }): void {
  let stopping = false;
  const handler = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, deadlineMs }, 'shutting down');
    setTimeout(() => {
      log.error({ deadlineMs }, 'shutdown deadline reached; exiting');
      process.exit(1);
    }, deadlineMs).unref();
    stop(signal).then(
      () => process.exit(0),
      (err: unknown) => { log.error({ err: String(err) }, 'shutdown failed'); process.exit(1); },
    );
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
}

/**
 * Prints a ConfigError (or any start-up error) without a stack and exits 1. A catalogue error (LL_*) is followed by
 * its code, the key to docs/errors.md.
 */
export function exitOnStartError(err: unknown): never {
  const e = err as { code?: string; detail?: string; message?: string };
  if (e.code === 'LL_CONFIG_INVALID') console.error(`Invalid configuration (${e.code}):${e.detail ?? ''}\nRun with --help to list every variable.`);
  else if (e.message !== undefined && e.code?.startsWith('LL_') === true) console.error(`${e.message} (${e.code})`);
  else console.error(e.message ?? String(err));
  process.exit(1);
}
