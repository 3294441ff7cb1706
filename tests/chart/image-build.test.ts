/**
 * The container image, built without Docker (there is no Docker engine here):
 * the Dockerfile is parsed and replayed inside the trixie root
 * (tests/trixie/: Debian 13, Node 24, the nearest real thing to the
 * node:24-trixie-slim base), so the image's uWS binary really loads. The build stage gets a clean temp dir
 * holding exactly what its COPY lines name (minus .dockerignore) and runs its
 * RUN lines (npm ci, tsc, prune, find) with the same shell; the runtime
 * stage's COPY --from files are assembled into a second dir; then gateway and
 * router start from that dir (`node dist/services/entry.js <role>`, the
 * image's ENTRYPOINT and role argument, NODE_ENV=production from its ENV)
 * against real NATS and Redis. That catches files missing from the image,
 * runtime imports of dev-only packages, and broken signal handling.
 *
 * What it cannot check: the base image itself, the uid switch, and file
 * ownership (docs/deploy.md says so).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { startNatsServer, type NatsHarness } from '../../infra/local/nats.js';
import { startRedis, type RedisHarness } from '../../infra/local/redis.js';
import { copyContext, dockerignore, parseDockerfile, type Instruction, type Stage } from './dockerfile.js';
import { REPO } from './k8s-models.js';
import { glibcVersion } from '../../services/shared/uws-native.js';

const stages: Stage[] = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
const build = stages[0]!;
const runtime = stages.at(-1)!;
const only = <K extends Instruction['op']>(s: Stage, op: K): Array<Extract<Instruction, { op: K }>> => s.instructions.filter((i): i is Extract<Instruction, { op: K }> => i.op === op);
const workdir = (s: Stage): string => only(s, 'WORKDIR').at(-1)?.path ?? '/';
const runtimeEnv = (): Record<string, string> => Object.assign({}, ...only(runtime, 'ENV').map((e) => e.vars)) as Record<string, string>;

const dirs: string[] = [];
const children = new Set<ChildProcess>();
let nats: NatsHarness | undefined;
let redis: RedisHarness | undefined;
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await nats?.stop();
  await redis?.cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('the Dockerfile: multi-stage, glibc base, non-root, exec-form entry point, production env', () => {
  assert.ok(stages.length >= 2, 'multi-stage build expected');
  for (const s of stages) {
    assert.doesNotMatch(s.base, /alpine|musl/i, `${s.base}: uWebSockets.js has no musl binary`);
    assert.match(s.base, /^node:24[.\w-]*-trixie(-slim)?$/, `${s.base}: expected a Node 24 LTS Debian 13 base (uWS needs glibc >= 2.38)`);
  }
  const users = only(runtime, 'USER');
  assert.ok(users.length > 0, 'the runtime stage must switch to a non-root user');
  assert.match(users.at(-1)!.user, /^[1-9][0-9]*(:[1-9][0-9]*)?$/, 'USER must be a numeric non-zero uid (Kubernetes runAsNonRoot can only verify numbers)');
  assert.equal(runtimeEnv().NODE_ENV, 'production');
  const entry = only(runtime, 'ENTRYPOINT').at(-1);
  assert.deepEqual(entry?.exec, ['node', 'dist/services/entry.js'], 'exec-form ENTRYPOINT, so node is PID 1 and receives SIGTERM');
  assert.deepEqual(only(runtime, 'CMD').at(-1)?.exec, ['gateway'], 'the role is the argument (CMD)');
  assert.equal(only(runtime, 'RUN').length, 0, 'the runtime stage runs nothing: it only copies the build output');
  for (const c of only(runtime, 'COPY')) assert.equal(c.from, build.name, `runtime COPY ${c.sources.join(' ')} must come from the build stage`);
});

test('the replay runs on the image\'s runtime: Node 24 and glibc >= 2.38 (the trixie root)', () => {
  assert.equal(process.versions.node.split('.')[0], '24', 'run this file with `bash tests/trixie/run.sh node tests/run.mjs chart/image-build`');
  const [major = 0, minor = 0] = (glibcVersion() ?? '0').split('.').map(Number);
  assert.ok(major > 2 || (major === 2 && minor >= 38), `glibc ${glibcVersion()}: the image's base has >= 2.38`);
});

let imageDir: string | undefined;

/** Replays the build stage, then assembles the runtime stage; returns the runtime dir (the image's WORKDIR). */
function buildImage(): string {
  if (imageDir) return imageDir;
  const ignored = dockerignore(readFileSync(join(REPO, '.dockerignore'), 'utf8'));
  const buildDir = mkdtempSync(join(tmpdir(), 'longlink-image-build-'));
  const outDir = mkdtempSync(join(tmpdir(), 'longlink-image-'));
  dirs.push(buildDir, outDir);
  // The shell a RUN line gets in the node image: no npm_* variables from an outer `npm test`, no NODE_ENV.
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/^npm_/i.test(k) && k !== 'NODE_ENV' && k !== 'NODE_OPTIONS') env[k] = v;
  env.npm_config_prefer_offline = 'true'; // same packages, from the local cache when it has them
  env.npm_config_update_notifier = 'false';
  const wd = workdir(build);
  const local = (p: string): string => join(buildDir, posix.relative(wd, posix.resolve(wd, p)));
  for (const ins of build.instructions) {
    if (ins.op === 'COPY') {
      assert.equal(ins.from, undefined, 'the build stage copies from the context only');
      for (const src of ins.sources) {
        assert.ok(!ignored(src), `COPY ${src}: .dockerignore excludes it, so the build would fail`);
        const n = copyContext(REPO, src, local(ins.dest), ins.dest.endsWith('/') || ins.sources.length > 1, ignored);
        assert.ok(n > 0, `COPY ${src} copied nothing`);
      }
    } else if (ins.op === 'RUN') {
      const r = spawnSync('/bin/sh', ['-c', ins.command], { cwd: buildDir, env, encoding: 'utf8', timeout: 540_000, maxBuffer: 64 * 1024 * 1024 });
      assert.equal(r.status, 0, `RUN ${ins.command}\nfailed (${r.status ?? r.signal}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
      // Node 24 is the supported runtime: no locked package may exclude it (tests/unit/engines.test.ts checks the lock file).
      if (/\bnpm (ci|install)\b/.test(ins.command)) assert.doesNotMatch(`${r.stdout}\n${r.stderr}`, /EBADENGINE/, `RUN ${ins.command} warned EBADENGINE on Node ${process.version}`);
    } else if (ins.op === 'ENV' || ins.op === 'USER' || ins.op === 'ENTRYPOINT' || ins.op === 'CMD') {
      assert.fail(`the build stage has ${ins.op}: extend the replay in tests/chart/image-build.test.ts`);
    }
  }
  const rwd = workdir(runtime);
  for (const ins of only(runtime, 'COPY')) {
    for (const src of ins.sources) {
      const from = join(buildDir, posix.relative(wd, src));
      assert.ok(existsSync(from), `COPY --from=${ins.from} ${src}: the build stage did not produce it`);
      const dest = join(outDir, posix.relative(rwd, posix.resolve(rwd, ins.dest)));
      const target = ins.dest.endsWith('/') && !readdirSafe(from) ? join(dest, posix.basename(src)) : dest;
      mkdirSync(join(target, '..'), { recursive: true });
      cpSync(from, target, { recursive: true, verbatimSymlinks: true });
    }
  }
  return (imageDir = outDir);
}

function readdirSafe(p: string): string[] | undefined {
  try {
    return readdirSync(p);
  } catch {
    return undefined;
  }
}

test('replayed build: runtime files hold no dev dependency and only this platform\'s uWS binary', { timeout: 900_000 }, () => {
  const dir = buildImage();
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean }> };
  const only = (flag: 'dev' | 'optional'): string[] => Object.entries(lock.packages).filter(([p, e]) => p.startsWith('node_modules/') && e[flag] === true).map(([p]) => p);
  assert.ok(only('dev').length > 10, 'the lock file lists no dev-only packages?');
  assert.ok(only('optional').includes('node_modules/uws-legacy-node20'), 'the legacy uWS build is an optional dependency');
  assert.deepEqual(only('dev').filter((p) => existsSync(join(dir, p))), [], 'dev-only packages in the runtime image');
  assert.deepEqual(only('optional').filter((p) => existsSync(join(dir, p))), [], 'optional-only packages (the legacy Node 20 uWS) in the runtime image');
  const uws = join(dir, 'node_modules/uWebSockets.js');
  const binaries = readdirSync(uws, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.node'));
  assert.deepEqual(binaries, [`uws_${process.platform}_${process.arch}_${process.versions.modules}.node`]);
  if (process.platform === 'linux' && process.arch === 'x64') assert.deepEqual(binaries, ['uws_linux_x64_137.node']);
  assert.ok(existsSync(join(dir, 'dist/services/entry.js')), 'dist/services/entry.js missing');
  assert.ok(!existsSync(join(dir, 'dist/services/entry.d.ts')), 'declarations are not needed at run time');
  assert.ok(!existsSync(join(dir, 'services')) && !existsSync(join(dir, 'protocol')) && !existsSync(join(dir, 'tsconfig.json')), 'sources must stay in the build stage');
});

interface Running { child: ChildProcess; out: () => string; exit: Promise<number | null> }

function startRole(dir: string, role: string, env: Record<string, string>): Running {
  // A container's environment: the image's ENV plus what the chart sets; nothing from this repo.
  const child = spawn(process.execPath, ['dist/services/entry.js', role], {
    cwd: dir, stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...runtimeEnv(), ...env },
  });
  children.add(child);
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => { children.delete(child); resolve(code); }));
  return { child, out: () => out, exit };
}

async function waitFor(r: Running, re: RegExp, what: string, timeoutMs = 60_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(r.out());
    if (m) return m;
    if (r.child.exitCode !== null) throw new Error(`${what}: exited ${r.child.exitCode} before printing its listening line:\n${r.out()}`);
    if (Date.now() > deadline) throw new Error(`${what}: no listening line within ${timeoutMs} ms:\n${r.out()}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

test('gateway and router start from the replayed image, answer /healthz, and exit 0 on SIGTERM', { timeout: 900_000 }, async () => {
  const dir = buildImage();
  [nats, redis] = await Promise.all([startNatsServer(), startRedis()]);
  const common = { LONGLINK_NATS_URLS: nats.urls[0]!, LONGLINK_LOG_LEVEL: 'info' };
  const gateway = startRole(dir, 'gateway', {
    ...common, LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_GATEWAY_ID: 'image-test',
    LONGLINK_JWT_SECRET: 'image-test-secret-0123456789-0123456789', LONGLINK_DRAIN_WINDOW_MS: '500', LONGLINK_SHUTDOWN_TIMEOUT_MS: '20000',
  });
  const router = startRole(dir, 'router', {
    ...common, LONGLINK_API_HOST: '127.0.0.1', LONGLINK_API_PORT: '0', LONGLINK_API_KEYS: 'image-test-api-key-0123456789', LONGLINK_REDIS_URL: redis.url,
    LONGLINK_CONSOLE_TOKEN: 'image-test-console-token-0123456789',
  });
  const gwPort = (await waitFor(gateway, /gateway \S+ listening on ws:\/\/[^:]+:(\d+)\/ws/, 'gateway'))[1]!;
  const rtPort = (await waitFor(router, /router listening on http:\/\/[^:]+:(\d+)/, 'router'))[1]!;
  for (const [what, base] of [['gateway', `http://127.0.0.1:${gwPort}`], ['router', `http://127.0.0.1:${rtPort}`]] as const) {
    assert.equal((await get(`${base}/healthz`)).status, 200, `${what} /healthz`);
    const deadline = Date.now() + 30_000;
    let ready = await get(`${base}/readyz`);
    while (ready.status !== 200 && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 200));
      ready = await get(`${base}/readyz`);
    }
    assert.equal(ready.status, 200, `${what} /readyz: ${ready.body}`);
  }
  assert.match((await get(`http://127.0.0.1:${gwPort}/metrics`)).body, /^longlink_gateway_connections /m);
  assert.match(gateway.out(), /"uws":"@btc-vision\/uwebsockets\.js@20\.57\.0","node":"v24\./, 'the image runs the supported uWS build on Node 24');
  assert.doesNotMatch(gateway.out(), /LEGACY RUNTIME/);
  assert.match((await get(`http://127.0.0.1:${rtPort}/metrics`)).body, /^# TYPE longlink_router_/m);
  // The console's page is in the image (bundled in the build stage), and its API answers with its token.
  for (const f of ['/console/', '/console/app.js', '/console/app.css']) assert.equal((await get(`http://127.0.0.1:${rtPort}${f}`)).status, 200, `router ${f}`);
  const overview = await fetch(`http://127.0.0.1:${rtPort}/console/api/overview`, { headers: { authorization: 'Bearer image-test-console-token-0123456789' } });
  assert.equal(overview.status, 200, 'console API with its token');
  gateway.child.kill('SIGTERM');
  router.child.kill('SIGTERM');
  assert.equal(await gateway.exit, 0, `gateway exit code after SIGTERM:\n${gateway.out()}`);
  assert.equal(await router.exit, 0, `router exit code after SIGTERM:\n${router.out()}`);
});
