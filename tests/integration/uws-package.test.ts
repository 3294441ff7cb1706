/**
 * The republished uWebSockets.js the image runs (`uWebSockets.js` =
 * npm:@btc-vision/uwebsockets.js@20.57.0), checked as far as we can without
 * upstream's GitHub release (docs/runtime.md, "Verifying the uWS build"):
 *  - the lock file pins the exact tarball (name, version, sha512 integrity
 *    that `npm ci` enforces) and that is what is installed;
 *  - its JS loader is upstream's loader for the v20.5x/v20.6x line, with
 *    the v20.57.0 version string, and it ships binaries for exactly the ABIs
 *    that line names (Node 20, 22, 24, 25);
 *  - every function and constant its type definitions declare exists on the
 *    native binary, on an App and on live HttpRequest/HttpResponse/WebSocket
 *    objects, so the types we compile against describe the binary we run;
 *  - the binary identifies itself as uWS 20 (its `uWebSockets: 20` header).
 * Runs in the trixie root only (tests/run.mjs ROOT_ONLY): the binary needs
 * glibc >= 2.38.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { loadNativeUws } from '../../services/shared/uws-native.js';
import { REPO } from '../chart/k8s-models.js';

const PKG_DIR = join(REPO, 'node_modules/uWebSockets.js');
/** Pinned here and in docs/runtime.md; changing the dependency means re-verifying and updating both. */
const PINNED = {
  name: '@btc-vision/uwebsockets.js',
  version: '20.57.0',
  integrity: 'sha512-SuPpEjSKZ7P58L/27BXXsrGsMwLmPupfYny8oJsOmFZ4+zX7Ca97nBPtZ3ngKbfeDZzTyi7rXri74INGerhugg==',
};
/** Upstream's loader (src/uws.js, uNetworking/uWebSockets.js v20.52.0 and v20.60.0 alike) with its version string. */
const UPSTREAM_LOADER = (v: string): string => `module.exports = (() => {
\ttry {
\t\treturn require('./uws_' + process.platform + '_' + process.arch + '_' + process.versions.modules + '.node');
\t} catch (e) {
\t\tthrow new Error('This version of uWS.js (v${v}) supports only Node.js versions 20, 22, 24 and 25 on (glibc) Linux, macOS and Windows, on Tier 1 platforms (https://github.com/nodejs/node/blob/master/BUILDING.md#platform-list).\\n\\n' + e.toString());
\t}
})();`;

const dts = readFileSync(join(PKG_DIR, 'index.d.ts'), 'utf8');
/** Method names declared in `export interface <name> { ... }` (4-space indented members). */
function declaredMethods(iface: string): string[] {
  const m = new RegExp(`^export interface ${iface}\\b[^{]*\\{([\\s\\S]*?)^\\}`, 'm').exec(dts);
  assert.ok(m, `index.d.ts declares no interface ${iface}`);
  return [...new Set([...m[1]!.matchAll(/^ {4}([A-Za-z_]\w*)\s*(?:<[^>]*>)?\s*\(/gm)].map((x) => x[1]!))];
}
const missing = (obj: object, names: string[]): string[] => names.filter((n) => typeof (obj as Record<string, unknown>)[n] !== 'function');

describe('the republished uWebSockets.js 20.57.0', () => {
  const native = loadNativeUws();
  const uws = native.uws;
  let listen: unknown;
  after(() => { if (listen) uws.us_listen_socket_close(listen as never); });

  it('is what the lock file pins, and what loads (not the legacy build)', () => {
    const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { name?: string; version?: string; integrity?: string }> };
    const entry = lock.packages['node_modules/uWebSockets.js'];
    assert.deepEqual({ name: entry?.name, version: entry?.version, integrity: entry?.integrity }, PINNED);
    const pkg = JSON.parse(readFileSync(join(PKG_DIR, 'package.json'), 'utf8')) as { name: string; version: string };
    assert.deepEqual([pkg.name, pkg.version], [PINNED.name, PINNED.version]);
    assert.equal(native.build, `${PINNED.name}@${PINNED.version}`);
    assert.equal(native.legacy, false);
  });

  it('its loader is upstream\'s, naming v20.57.0; it ships binaries for exactly Node 20/22/24/25', () => {
    const src = readFileSync(join(PKG_DIR, 'uws.js'), 'utf8');
    assert.ok(src.includes(UPSTREAM_LOADER(PINNED.version)), 'uws.js loader differs from upstream\'s');
    const abis = (platform: string): string[] => readdirSync(PKG_DIR).map((f) => new RegExp(`^uws_${platform}_(\\d+)\\.node$`).exec(f)?.[1]).filter((x): x is string => x !== undefined).sort();
    for (const p of ['linux_x64', 'linux_arm64', 'darwin_x64', 'darwin_arm64', 'win32_x64']) assert.deepEqual(abis(p), ['115', '127', '137', '141'], p);
  });

  it('every top-level function and constant the types declare is on the native binary', () => {
    const fns = [...dts.matchAll(/^export function (\w+)/gm)].map((m) => m[1]!);
    const vars = [...dts.matchAll(/^export var (\w+)/gm)].map((m) => m[1]!);
    assert.ok(fns.includes('App') && vars.includes('SHARED_COMPRESSOR'), 'the d.ts parser found nothing');
    assert.deepEqual(missing(uws, fns), []);
    assert.deepEqual(vars.filter((v) => !(v in uws)), []);
    assert.deepEqual(missing(uws.App(), declaredMethods('TemplatedApp')), []);
  });

  it('live request, response and WebSocket objects have every declared method; the binary answers as uWebSockets 20', async () => {
    const seen: Record<string, string[]> = {};
    const app = uws.App();
    app.get('/probe', (res, req) => {
      seen.HttpRequest = missing(req, declaredMethods('HttpRequest'));
      seen.HttpResponse = missing(res, declaredMethods('HttpResponse'));
      res.end('ok');
    });
    let opened!: () => void;
    const open = new Promise<void>((r) => { opened = r; });
    app.ws('/ws', { open: (ws) => { seen.WebSocket = missing(ws, declaredMethods('WebSocket')); ws.end(1000); opened(); } });
    const port = await new Promise<number>((resolve, reject) => app.listen('127.0.0.1', 0, (ls) => {
      if (!ls) return reject(new Error('listen failed'));
      listen = ls;
      resolve(uws.us_socket_local_port(ls));
    }));
    const res = await fetch(`http://127.0.0.1:${port}/probe`);
    assert.equal(await res.text(), 'ok');
    assert.equal(res.headers.get('uwebsockets'), '20', 'the binary\'s own banner header');
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    client.on('error', () => undefined);
    await open;
    client.terminate();
    assert.deepEqual(seen, { HttpRequest: [], HttpResponse: [], WebSocket: [] });
  });
});
