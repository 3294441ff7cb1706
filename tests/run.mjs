// Runs every compiled test file (dist/tests/**/*.test.js) with node's test runner.
// Node 20's --test takes no globs, so the files are listed here. Filter with
// `node tests/run.mjs unit` (substring match on the path).
//
// Two places run tests (docs/runtime.md): the host, and the trixie root
// (tests/trixie/run.sh: Debian 13, Node 24, the image's uWS build).
// ROOT_ONLY files replay the Node 24 image and run in the root only;
// `--root` selects ROOT_SUITE, what `npm test` runs in the root after the
// host suite.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const ROOT_ONLY = ['tests/chart/image-build.test.js', 'tests/integration/uws-package.test.js'];
const ROOT_SUITE = [
  'tests/integration/gateway.test.js', 'tests/integration/drain.test.js', 'tests/integration/native-uws.test.js',
  'tests/integration/gateway-metrics-port-taken.test.js', 'tests/integration/listener-port-taken.test.js',
  'tests/integration/cluster-', 'tests/integration/sdk-gateway.test.js', 'tests/unit/router-http.test.js',
  'tests/integration/console-api.test.js', 'tests/loadtest/benches.test.js', 'tests/loadtest/live-gateway.test.js', ...ROOT_ONLY,
];
const inRoot = process.env.LONGLINK_IN_TRIXIE_ROOT === '1';

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.js') ? [p] : [];
  });
}

const args = process.argv.slice(2);
const filters = args.includes('--root') ? ROOT_SUITE : args;
let files = walk('dist/tests').filter((f) => filters.length === 0 || filters.some((x) => f.includes(x))).sort();
const rootOnly = files.filter((f) => ROOT_ONLY.some((x) => f.includes(x)));
if (!inRoot && rootOnly.length > 0) {
  console.error(`tests/run.mjs: ${rootOnly.join(', ')} run in the trixie root only: bash tests/trixie/run.sh node tests/run.mjs ${rootOnly.map((f) => f.replace(/^dist\//, '')).join(' ')}`);
  files = files.filter((f) => !rootOnly.includes(f));
}
if (files.length === 0) {
  console.error('no test files found under dist/tests (did the build run?)');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
