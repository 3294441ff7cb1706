/**
 * uWS's loader silently falls back to a slow JS implementation when the
 * native binary fails; the gateway refuses to run on it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnNode } from '../../infra/local/process.js';
import { TEST_API_KEY, TEST_SECRET } from '../helpers/standalone.js';

describe('native uWebSockets.js', () => {
  it('start-up fails with LL_NATIVE_UWS_MISSING when uWS would run its JS fallback', async () => {
    const p = spawnNode('dist/services/standalone/main.js', {
      UWS_USE_FALLBACK: '1', LONGLINK_GATEWAY_PORT: '0', LONGLINK_API_PORT: '0',
      LONGLINK_JWT_SECRET: TEST_SECRET, LONGLINK_API_KEYS: TEST_API_KEY, LONGLINK_LOG_LEVEL: 'silent',
    });
    const exit = await p.exited(20_000);
    assert.equal(exit.code, 1);
    assert.match(p.output(), /LL_NATIVE_UWS_MISSING|native uWebSockets\.js binary did not load/);
    assert.doesNotMatch(p.output(), /Longlink standalone is running/);
  });

  it('a bad configuration exits 1 naming every bad variable', async () => {
    const p = spawnNode('dist/services/standalone/main.js', { LONGLINK_GATEWAY_PORT: 'eighty', LONGLINK_HB_CHECK: 'maybe', LONGLINK_LOG_LEVEL: 'silent' });
    const exit = await p.exited(20_000);
    assert.equal(exit.code, 1);
    assert.match(p.output(), /LL_CONFIG_INVALID/);
    assert.match(p.output(), /LONGLINK_GATEWAY_PORT/);
    assert.match(p.output(), /LONGLINK_HB_CHECK/);
  });
});
