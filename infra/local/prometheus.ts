/**
 * A real Prometheus server (Debian package `prometheus`) for the local
 * cluster: `startPrometheus()` writes a config scraping the given targets,
 * starts the binary on its own port and data directory and resolves once
 * `/-/ready` answers. Used by `npm run observe` and tests/observability.
 *
 * The config is written as JSON, which is valid YAML, so no YAML library is
 * needed at run time. Every target gets the labels the dashboards and rules
 * filter on: `namespace` (default "local") and `pod` (the target's
 * host:port), the same names Kubernetes service discovery produces in
 * infra/prometheus/prometheus.kubernetes.yml.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface PrometheusTarget {
  /** The `job` label, e.g. "longlink-gateway" (the alert rules select on it). */
  job: string;
  /** Full metrics URLs, e.g. http://127.0.0.1:8080/metrics; one job's URLs share scheme and path. */
  urls: string[];
  /** Extra labels on every target of this job. */
  labels?: Record<string, string>;
}

export interface PrometheusOptions {
  targets: PrometheusTarget[];
  /** Rule files (alerting and recording) to load; paths are made absolute. */
  rulesFiles?: string[];
  /** Listen port; default: a free one. */
  port?: number;
  host?: string;
  /** Config and TSDB go here; default: a fresh temp directory, removed by stop(). */
  dataDir?: string;
  /** Scrape and rule evaluation interval (s). Default 1. */
  intervalS?: number;
  /** `namespace` label value. Default "local". */
  namespace?: string;
  readyTimeoutMs?: number;
}

export interface RunningPrometheus {
  /** http://host:port */
  readonly url: string;
  readonly port: number;
  readonly configFile: string;
  readonly dataDir: string;
  /** Everything the server printed so far. */
  output(): string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes a temp data directory. Idempotent. */
  stop(): Promise<void>;
}

/** The Debian package installs both binaries; tests fail (never skip) when they are missing. */
export function prometheusBinary(name: 'prometheus' | 'promtool' = 'prometheus'): string {
  for (const dir of (process.env.PATH ?? '/usr/bin').split(path.delimiter)) {
    const p = path.join(dir, name);
    if (dir !== '' && existsSync(p)) return p;
  }
  throw new Error(`${name} not found on PATH: install the Debian package "prometheus" (run \`bash tests/setup.sh\` as root, or apt-get install prometheus)`);
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** The Prometheus configuration for `o` (a plain object; JSON is valid YAML). */
export function prometheusConfig(o: PrometheusOptions): object {
  const interval = `${o.intervalS ?? 1}s`;
  return {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: (o.rulesFiles ?? []).map((f) => path.resolve(f)),
    scrape_configs: o.targets.map((t) => {
      const urls = t.urls.map((u) => new URL(u));
      const first = urls[0];
      if (!first) throw new RangeError(`prometheus: job ${t.job} has no URLs`);
      for (const u of urls) {
        if (u.protocol !== first.protocol || u.pathname !== first.pathname) throw new RangeError(`prometheus: job ${t.job} mixes schemes or paths (${u.href})`);
      }
      return {
        job_name: t.job,
        scheme: first.protocol.replace(':', ''),
        metrics_path: first.pathname,
        static_configs: [{ targets: urls.map((u) => u.host), labels: { namespace: o.namespace ?? 'local', ...t.labels } }],
        // The dashboards' `pod` variable: the target address stands in for a pod name.
        relabel_configs: [{ source_labels: ['__address__'], target_label: 'pod' }],
      };
    }),
  };
}

export async function startPrometheus(o: PrometheusOptions): Promise<RunningPrometheus> {
  const binary = prometheusBinary('prometheus');
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? (await freePort(host));
  const ownDir = o.dataDir === undefined;
  const dataDir = o.dataDir ?? mkdtempSync(path.join(tmpdir(), 'longlink-prometheus-'));
  mkdirSync(dataDir, { recursive: true });
  const configFile = path.join(dataDir, 'prometheus.yml');
  writeFileSync(configFile, JSON.stringify(prometheusConfig(o), null, 2) + '\n');

  const child = spawn(binary, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${path.join(dataDir, 'tsdb')}`,
    `--web.listen-address=${host}:${port}`,
    '--storage.tsdb.retention.time=6h',
    '--log.level=warn',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8'); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString('utf8'); });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= (async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    }
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  })());

  const url = `http://${host}:${port}`;
  const deadline = Date.now() + (o.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (exited) { await stop(); throw new Error(`prometheus exited before becoming ready:\n${out}`); }
    try {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
      await res.text();
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) { await stop(); throw new Error(`prometheus not ready after ${o.readyTimeoutMs ?? 30_000} ms:\n${out}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, port, configFile, dataDir, output: () => out, stop };
}

/** Runs `promtool <args>`; resolves with its exit status and output. */
export function promtool(args: string[]): { status: number; output: string } {
  const r = spawnSync(prometheusBinary('promtool'), args, { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? 1, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}
