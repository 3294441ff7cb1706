/**
 * docs/protocol.md against the code. 2.3 lists every HTTP answer of the WebSocket upgrade. The
 * upgrade path is the transport's upgrade handler, the admission checks and
 * the token verifier; every catalogue error those files can answer with must
 * have a row (status and code) in that table, so a new admission or auth
 * code cannot ship undocumented.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Errors } from '../../services/shared/errors.js';
import { SUPPORTED_ALGS } from '../../services/gateway/jwt-verify.js';
import { headerValue } from '../../services/shared/bus/bus.js';

const root = new URL('../../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');

/** Errors that these files raise outside the upgrade (configuration at startup). */
const NOT_ON_THE_WIRE = new Set(['CONFIG_INVALID']);

function section23(): string {
  const md = read('docs/protocol.md');
  const start = md.indexOf('### 2.3 ');
  const end = md.indexOf('### 2.4 ');
  assert.ok(start >= 0 && end > start, 'protocol.md has sections 2.3 and 2.4');
  return md.slice(start, end);
}

test('every error the upgrade path can answer has a row in protocol.md 2.3', () => {
  const files = ['services/gateway/transport/uws-server.ts', 'services/gateway/core/admission.ts', 'services/gateway/auth.ts'];
  const names = new Set<string>();
  for (const f of files) for (const m of read(f).matchAll(/Errors\.([A-Z_]+)/g)) names.add(m[1]!);
  for (const n of NOT_ON_THE_WIRE) names.delete(n);
  // Sanity: the scan sees the codes this test was written against.
  for (const n of ['UNSUPPORTED_WS_VERSION', 'DRAINING', 'ADMISSION_STARTING', 'AUTH_KEYS_UNAVAILABLE', 'ADMISSION_SOURCE_RATE']) assert.ok(names.has(n), `scan found ${n}`);
  const doc = section23();
  const missing: string[] = [];
  for (const n of names) {
    const spec = (Errors as Record<string, { code: string; status: number } | undefined>)[n];
    assert.ok(spec, `Errors.${n} exists`);
    if (!new RegExp(`^\\| ${spec.status} \\| \`${spec.code}\` \\|`, 'm').test(doc)) missing.push(`${spec.status} ${spec.code}`);
  }
  assert.deepEqual(missing, [], 'rows missing from protocol.md 2.3');
});

test('protocol.md 2.3 has no row for a code the catalogue does not have', () => {
  const known = new Map(Object.values(Errors).map((e) => [e.code, e.status] as const));
  for (const m of section23().matchAll(/^\| (\d{3}) \| `(LL_[A-Z_]+)` \|/gm)) {
    assert.equal(known.get(m[2]!), Number(m[1]), `${m[2]} has status ${m[1]} in the doc`);
  }
});

test('protocol.md 3 names every JWT algorithm the verifier supports, and the defaults', () => {
  const md = read('docs/protocol.md');
  const s3 = md.slice(md.indexOf('## 3. Authentication'), md.indexOf('## 4. Frames'));
  for (const alg of SUPPORTED_ALGS) assert.match(s3, new RegExp(`\\b${alg}\\b`), `${alg} in protocol.md 3`);
});

test('api.md names every header the gateway puts on an upstream message, and its encoding examples hold', () => {
  const api = read('docs/api.md');
  const section = api.slice(api.indexOf('### Receiving upstream'));
  const names = new Set([...read('services/shared/bus/upstream.ts').matchAll(/'(longlink-[a-z-]+)'/g)].map((m) => m[1]!));
  assert.ok(names.has('longlink-user'), 'scan found the upstream headers');
  for (const n of names) assert.ok(section.includes(`\`${n}\``), `${n} in api.md`);
  for (const [, id, header] of section.matchAll(/`([^`]+)` arrives as `([^`]+)`/g)) {
    assert.equal(headerValue(id!), header, id);
    assert.equal(decodeURIComponent(header!), id);
  }
  assert.equal(headerValue('50%'), '50%25');
});
