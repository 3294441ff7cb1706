/**
 * Which uWebSockets.js build start-up loads (services/shared/uws-native.ts),
 * checked on the system the suite runs on: `npm test` runs this file on the
 * host and again in the trixie root (tests/trixie/), so both sides of the
 * glibc 2.38 line are covered where the host is older.
 *  - glibc >= 2.38: the supported build, on any Node it has binaries for;
 *  - older glibc, Node 20: the legacy build, with a loud warning, refused
 *    under NODE_ENV=production unless explicitly allowed;
 *  - older glibc, other Node (the root's Node 24 binary run on the host): a
 *    clear LL_NATIVE_UWS_MISSING naming the fix.
 * uWS's silent JS fallback is refused in every case.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { explainLoadFailure, glibcVersion, MIN_GLIBC } from '../../services/shared/uws-native.js';
import { spawnNode } from '../../infra/local/process.js';
import { TEST_API_KEY, TEST_SECRET } from '../helpers/standalone.js';

const MAIN = 'dist/services/standalone/main.js';
const glibc = glibcVersion();
const [major = 0, minor = 0] = (glibc ?? '0.0').split('.').map(Number);
const newGlibc = major > 2 || (major === 2 && minor >= 38);
const onNode20 = process.versions.modules === '115';
const ENV = {
  LONGLINK_GATEWAY_HOST: '127.0.0.1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_API_PORT: '0',
  LONGLINK_JWT_SECRET: TEST_SECRET, LONGLINK_API_KEYS: TEST_API_KEY, LONGLINK_LOG_LEVEL: 'info',
};
const LOADED = /"uws":"([^"]+)","node":"(v[\d.]+)","msg":"uWebSockets\.js native build loaded"/;

async function startsWith(env: Record<string, string>, node?: string): Promise<{ build: string; out: string }> {
  const p = spawnNode(MAIN, { ...ENV, ...env }, [], node);
  try {
    const m = await p.waitFor(LOADED, 20_000);
    await p.waitFor(/Longlink standalone is running/, 20_000);
    await p.waitFor(/"msg":"gateway listening"/, 20_000); // logged after the start-up warnings
    return { build: m[1]!, out: p.output() };
  } finally {
    p.kill();
  }
}

async function refused(env: Record<string, string>, node?: string): Promise<string> {
  const p = spawnNode(MAIN, { ...ENV, ...env }, [], node);
  const exit = await p.exited(20_000);
  assert.equal(exit.code, 1, p.output());
  assert.match(p.output(), /native uWebSockets\.js binary did not load/);
  assert.doesNotMatch(p.output(), /Longlink standalone is running/);
  return p.output();
}

describe(`native uWebSockets.js on Node ${process.version}, glibc ${glibc ?? 'none'}`, () => {
  if (newGlibc) {
    it('loads the supported build (no legacy warning), even with UWS_USE_FALLBACK set: it has no JS fallback', async () => {
      for (const env of [{}, { UWS_USE_FALLBACK: '1', NODE_ENV: 'production' }] as Array<Record<string, string>>) {
        const { build, out } = await startsWith(env);
        assert.equal(build, '@btc-vision/uwebsockets.js@20.57.0');
        assert.doesNotMatch(out, /LEGACY RUNTIME/);
      }
    });
  } else {
    it(`older glibc than ${MIN_GLIBC}: a Node other than 20 fails with LL_NATIVE_UWS_MISSING naming the fix`, async () => {
      // The trixie root's Node 24 (an official build, glibc >= 2.28) runs on this host; uWS's binary for it does not.
      const root = execFileSync('bash', ['tests/trixie/root.sh'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').at(-1)!;
      const out = await refused({}, join(root, 'usr/local/bin/node'));
      assert.match(out, new RegExp(`needs glibc >= ${MIN_GLIBC.replace('.', '\\.')}; this system has glibc ${glibc!.replace('.', '\\.')}`));
      assert.match(out, /Fix: run the container image \(Node 24 on Debian 13\)/);
      assert.match(out, /GLIBC_2\.38' not found/);
    });
  }

  if (!newGlibc && onNode20) {
    it('older glibc, Node 20: the legacy build, with a LEGACY RUNTIME warning', async () => {
      const { build, out } = await startsWith({});
      assert.equal(build, '@trufflesuite/uws-js-unofficial@20.30.0-unofficial.0');
      assert.match(out, /LEGACY RUNTIME \(development only\).*end-of-life/);
    });

    it('older glibc, Node 20: NODE_ENV=production refuses the legacy build unless LONGLINK_ALLOW_LEGACY_UWS=1', async () => {
      assert.match(await refused({ NODE_ENV: 'production' }), /LONGLINK_ALLOW_LEGACY_UWS=1/);
      const { build } = await startsWith({ NODE_ENV: 'production', LONGLINK_ALLOW_LEGACY_UWS: '1' });
      assert.match(build, /uws-js-unofficial@20\.30/);
    });

    it('older glibc, Node 20: the legacy build\'s JS fallback (UWS_USE_FALLBACK) is refused', async () => {
      assert.match(await refused({ UWS_USE_FALLBACK: '1' }), /loaded its JS fallback/);
    });
  }

  it('explains each failure with its fix', () => {
    const glibcErr = new Error("/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found (required by uws_linux_x64_137.node)");
    assert.match(explainLoadFailure(glibcErr, '2.35'), /needs glibc >= 2\.38; this system has glibc 2\.35\. Fix: run the container image/);
    if (process.platform === 'linux') assert.match(explainLoadFailure(new Error('Error loading shared library ld-linux-x86-64.so.2'), undefined), /without glibc \(musl\/Alpine\?\)/);
    assert.match(explainLoadFailure(new Error("Cannot find module './uws_linux_x64_131.node'"), '2.41'), /no uWebSockets\.js binary for this platform and Node version\. Supported: Node 24 LTS or 22\.15\+/);
  });

  it('a bad configuration exits 1 naming every bad variable', async () => {
    const p = spawnNode(MAIN, { LONGLINK_GATEWAY_PORT: 'eighty', LONGLINK_HB_CHECK: 'maybe', LONGLINK_LOG_LEVEL: 'silent' });
    const exit = await p.exited(20_000);
    assert.equal(exit.code, 1);
    assert.match(p.output(), /LL_CONFIG_INVALID/);
    assert.match(p.output(), /LONGLINK_GATEWAY_PORT/);
    assert.match(p.output(), /LONGLINK_HB_CHECK/);
  });
});
