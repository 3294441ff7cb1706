/**
 * Loads uWebSockets.js's native binding. The only module that imports uWS
 * values (lint forbids it elsewhere; type imports are fine), so one place
 * decides which build runs and start-up fails here, with a catalogued error
 * naming the fix, instead of deep inside a module import.
 *
 * Two builds, both npm aliases (docs/runtime.md):
 *  - `uWebSockets.js` = @btc-vision/uwebsockets.js 20.57.0, a republish of
 *    upstream's v20.57.0 release: Node 20/22/24/25 (ABIs 115/127/137/141),
 *    Linux binaries need glibc >= 2.38. The supported build; the image uses it.
 *  - `uws-legacy-node20` = @trufflesuite/uws-js-unofficial 20.30.0 (2023):
 *    Node 16-20 only, older glibc. LEGACY, for development on Node 20 hosts
 *    whose glibc is older than 2.38 (Debian 12, Ubuntu 22.04). Used only on
 *    Node 20 and only when the supported build does not load; refused under
 *    NODE_ENV=production unless LONGLINK_ALLOW_LEGACY_UWS=1 (Node 20 gets no
 *    security fixes).
 *
 * Either way the native binary must load: the legacy package's silent JS
 * fallback (UWS_USE_FALLBACK, or a binary that fails) is refused.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as UWS from 'uWebSockets.js';
import { Errors, LonglinkError, portTaken } from './errors.js';

export type Uws = typeof UWS;

export const SUPPORTED_PACKAGE = 'uWebSockets.js';
export const LEGACY_PACKAGE = 'uws-legacy-node20';
/** The supported build's Linux binaries reference GLIBC_2.38 symbols. */
export const MIN_GLIBC = '2.38';
const NODE20_ABI = '115';

export interface NativeUws {
  readonly uws: Uws;
  /** What was loaded, e.g. "@btc-vision/uwebsockets.js@20.57.0". */
  readonly build: string;
  /** The absolute path of the .node binary that loaded. */
  readonly binary: string;
  readonly legacy: boolean;
}

/** The C library's version (`2.36`), undefined on musl or non-Linux. */
export function glibcVersion(): string | undefined {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime;
}

function olderThan(a: string, b: string): boolean {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number));
  for (let i = 0; i < Math.max(x!.length, y!.length); i++) {
    const d = (x![i] ?? 0) - (y![i] ?? 0);
    if (d !== 0) return d < 0;
  }
  return false;
}

const binaryName = (): string => `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;

function packageDir(require: NodeJS.Require, name: string): string {
  // The supported package's "exports" hides package.json: walk up from its main file.
  let dir = path.dirname(require.resolve(name));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`${name}: package.json not found`);
    dir = up;
  }
  return dir;
}

function load(require: NodeJS.Require, name: string, legacy: boolean): NativeUws {
  const dir = packageDir(require, name);
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name: string; version: string };
  const binary = path.join(dir, legacy ? 'binaries' : '', binaryName());
  const native: unknown = require(binary); // throws when the binary is missing or cannot load
  const uws = require(name) as Uws; // the package's own loader, as an `import` would run it
  if (uws !== native) throw new Error(`${name} loaded its JS fallback instead of ${binary} (UWS_USE_FALLBACK set?)`);
  return Object.freeze({ uws, build: `${pkg.name}@${pkg.version}`, binary, legacy });
}

/** Why the supported build did not load, and what fixes it. */
export function explainLoadFailure(err: unknown, glibc: string | undefined): string {
  const cause = (err instanceof Error ? err.message : String(err)).split('\n').filter((l) => l.trim() !== '').at(-1) ?? '';
  const where = `Node ${process.version} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch}`;
  if (process.platform === 'linux' && glibc === undefined) {
    return `${where} without glibc (musl/Alpine?): uWebSockets.js ships glibc binaries only. Use a glibc >= ${MIN_GLIBC} distribution (Debian 13, Ubuntu 24.04) or the container image. Cause: ${cause}`;
  }
  if (glibc !== undefined && (olderThan(glibc, MIN_GLIBC) || /GLIBC_[\d.]+' not found/.test(cause))) {
    return `uWebSockets.js needs glibc >= ${MIN_GLIBC}; this system has glibc ${glibc}. `
      + `Fix: run the container image (Node 24 on Debian 13), or upgrade to a distribution with glibc >= ${MIN_GLIBC} (Debian 13, Ubuntu 24.04, Fedora 39, RHEL 10). `
      + `For development only, Node 20 on this system uses the legacy uWS build (docs/runtime.md). Cause: ${cause}`;
  }
  if (/Cannot find module|MODULE_NOT_FOUND/.test(cause)) {
    return `${where}: no uWebSockets.js binary for this platform and Node version. Supported: Node 24 LTS or 22.15+ on glibc Linux (x64, arm64), macOS or Windows. Cause: ${cause}`;
  }
  return `${where}: the uWebSockets.js binary did not load. Cause: ${cause}`;
}

let loaded: NativeUws | undefined;

/**
 * The native uWS binding for this process (loaded once). Throws
 * LL_NATIVE_UWS_MISSING naming the fix when no native build can run.
 */
export function loadNativeUws(env: NodeJS.ProcessEnv = process.env): NativeUws {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  let supportedErr: unknown;
  try {
    return (loaded = load(require, SUPPORTED_PACKAGE, false));
  } catch (err) {
    supportedErr = err;
  }
  const why = explainLoadFailure(supportedErr, glibcVersion());
  if (process.versions.modules !== NODE20_ABI) throw new LonglinkError(Errors.NATIVE_UWS_MISSING, why);
  if (env.NODE_ENV === 'production' && env.LONGLINK_ALLOW_LEGACY_UWS !== '1') {
    throw new LonglinkError(Errors.NATIVE_UWS_MISSING, `${why}. The legacy build (Node 20, end-of-life) is refused with NODE_ENV=production; set LONGLINK_ALLOW_LEGACY_UWS=1 to accept it`);
  }
  try {
    return (loaded = load(require, LEGACY_PACKAGE, true));
  } catch (err) {
    throw new LonglinkError(Errors.NATIVE_UWS_MISSING, `${why}. The legacy build did not load either: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The start-up warning a legacy process logs (undefined on the supported build). */
export function legacyWarning(n: NativeUws): string | undefined {
  if (!n.legacy) return undefined;
  return `LEGACY RUNTIME (development only): ${n.build} on Node ${process.version} (end-of-life, no security fixes), `
    + `because this system's glibc ${glibcVersion() ?? '?'} is older than the ${MIN_GLIBC} the supported uWebSockets.js needs. `
    + 'Run the container image or Node 24 on a glibc >= 2.38 distribution in production (docs/runtime.md).';
}

/** uSockets' LIBUS_LISTEN_EXCLUSIVE_PORT: no SO_REUSEPORT on the listen socket. */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;
/** The native listen(host, port, options, cb) (options between port and callback); the type definitions omit the form with a host. */
interface ListenWithOptions { listen(host: string, port: number, options: number, cb: (s: UWS.us_listen_socket | false) => void): unknown }

/**
 * Listens on host:port alone. uWS listens with SO_REUSEPORT by default on Linux, so a second process started on a
 * port another one holds (a second gateway, a standalone process, a metrics listener) would share it silently, each
 * new connection reaching either process at random. Exclusive, a taken port fails start-up instead, with
 * LL_PORT_TAKEN naming the listener and the port. uSockets reports no cause (errno), so the holder is unknown.
 * `what` names the listener, e.g. "gateway WebSocket listener".
 */
export function listenExclusive(app: UWS.TemplatedApp, host: string, port: number, what: string): Promise<UWS.us_listen_socket> {
  return new Promise((resolve, reject) => {
    (app as unknown as ListenWithOptions).listen(host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (s) => {
      if (s) resolve(s);
      else reject(portTaken(host, port, what));
    });
  });
}
