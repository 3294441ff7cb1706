import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, helpText, loadConfig } from '../../services/shared/config.js';
import { gatewaySpec, loadGatewayConfig } from '../../services/gateway/config.js';
import { loadRouterSettings, routerProcessSpec } from '../../services/router/config.js';

const KEY = { LONGLINK_JWT_SECRET: 'x'.repeat(32) };

describe('gateway config', () => {
  it('defaults validate and the result is frozen', () => {
    const c = loadGatewayConfig(KEY);
    assert.equal(c.port, 8080);
    assert.equal(c.hbCheck, true);
    assert.ok(Object.isFrozen(c));
    assert.throws(() => { (c as { port: number }).port = 1; });
    assert.equal(c.channelPageReads, 64);
    assert.equal(loadGatewayConfig({ ...KEY, LONGLINK_CHANNEL_PAGE_READS: '8' }).channelPageReads, 8);
    assert.throws(() => loadGatewayConfig({ ...KEY, LONGLINK_CHANNEL_PAGE_READS: '0' }), /LONGLINK_CHANNEL_PAGE_READS/);
  });
  it('names every bad variable at once, without echoing secrets', () => {
    try {
      loadGatewayConfig({ LONGLINK_GATEWAY_PORT: 'eighty', LONGLINK_HB_CHECK: 'maybe', LONGLINK_WHEEL_SIZE: '1000', LONGLINK_JWT_SECRET: 'short-secret' });
      assert.fail('expected ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.code, 'LL_CONFIG_INVALID');
      const text = err.problems.join('\n');
      assert.match(text, /LONGLINK_GATEWAY_PORT: .*"eighty"/);
      assert.match(text, /LONGLINK_HB_CHECK/);
      assert.match(text, /LONGLINK_WHEEL_SIZE: must be a power of two/);
      assert.equal(err.problems.length, 3, 'cross-field checks run only once fields parse');
    }
    assert.throws(() => loadGatewayConfig({ LONGLINK_JWT_SECRET: 'short-secret' }), (e: ConfigError) => e.problems.some((p) => /at least 32/.test(p)) && !e.message.includes('short-secret'));
  });
  it('cross-field rules: bounds order, one key source, a key unless dev', () => {
    assert.throws(() => loadGatewayConfig({ ...KEY, LONGLINK_HB_MIN_MS: '9000', LONGLINK_HB_MAX_MS: '8000', LONGLINK_HB_DEFAULT_MS: '8500' }), /LONGLINK_HB_MIN_MS must be <= LONGLINK_HB_MAX_MS/);
    assert.throws(() => loadGatewayConfig({}), /no JWT key/);
    assert.equal(loadGatewayConfig({ LONGLINK_DEV: 'true' }).dev, true);
    assert.throws(() => loadGatewayConfig({ ...KEY, LONGLINK_JWT_JWKS_URL: 'https://example.test/jwks' }), /only one of/);
    assert.throws(() => loadGatewayConfig({ ...KEY, LONGLINK_DRAIN_WINDOW_MS: '60000', LONGLINK_SHUTDOWN_TIMEOUT_MS: '30000' }), /SHUTDOWN_TIMEOUT_MS must exceed/);
  });
  it('a JWKS URL is https, or plain http to loopback only (a network peer could substitute the keys)', () => {
    for (const bad of ['http://keys.internal/jwks', 'http://10.0.0.5/jwks', 'ftp://127.0.0.1/jwks']) {
      assert.throws(() => loadGatewayConfig({ LONGLINK_JWT_JWKS_URL: bad }), /LONGLINK_JWT_JWKS_URL must be https:\/\//, bad);
    }
    for (const ok of ['https://keys.internal/jwks', 'http://127.0.0.1:8080/jwks', 'http://localhost/jwks', 'http://[::1]:9/jwks']) {
      assert.equal(loadGatewayConfig({ LONGLINK_JWT_JWKS_URL: ok }).jwtJwksUrl, ok);
    }
  });
  it('--help lists every variable with its default and hides secrets', () => {
    const text = helpText('t', [gatewaySpec]);
    for (const s of Object.values(gatewaySpec)) assert.ok(text.includes(s.env), s.env);
    assert.match(text, /LONGLINK_JWT_SECRET[\s\S]*?\(secret, no default\)/);
    assert.match(text, /LONGLINK_HB_GRACE_MS[\s\S]*?default: 5000/);
  });
});

describe('numeric variables', () => {
  const router = { LONGLINK_API_KEYS: 'k'.repeat(20) };
  it('a blank value is refused, not read as 0 (which turns caps and rates off, or picks any port)', () => {
    for (const blank of [' ', '  ', ' \t', '\n']) {
      assert.throws(() => loadRouterSettings({ ...router, LONGLINK_MAX_DEVICES_PER_USER: blank }), /LONGLINK_MAX_DEVICES_PER_USER: must be a decimal number/, JSON.stringify(blank));
      assert.throws(() => loadRouterSettings({ ...router, LONGLINK_PUBLISH_RATE: blank }), /LONGLINK_PUBLISH_RATE: must be a decimal number/);
      assert.throws(() => loadRouterSettings({ ...router, LONGLINK_API_PORT: blank }), /LONGLINK_API_PORT: must be a decimal number/);
      assert.throws(() => loadGatewayConfig({ ...KEY, LONGLINK_SOURCE_CONNECT_RATE: blank }), /LONGLINK_SOURCE_CONNECT_RATE: must be a decimal number/);
    }
  });
  it('hex, binary, octal and Infinity are refused; decimal forms (spaces around, exponent) read as before', () => {
    for (const odd of ['0x1f90', '0b1', '0o17', 'Infinity', '1_000', '8080abc']) {
      assert.throws(() => loadRouterSettings({ ...router, LONGLINK_API_PORT: odd }), /LONGLINK_API_PORT: must be a decimal number/, odd);
    }
    assert.equal(loadRouterSettings({ ...router, LONGLINK_API_PORT: ' 8082 ' }).apiPort, 8082);
    assert.equal(loadRouterSettings({ ...router, LONGLINK_PUBLISH_RATE: '1e3' }).publishRate, 1000);
    assert.equal(loadRouterSettings({ ...router, LONGLINK_MAX_DEVICES_PER_USER: '0' }).maxDevicesPerUser, 0, 'an explicit 0 still means no cap');
    assert.throws(() => loadRouterSettings({ ...router, LONGLINK_API_PORT: '80.5' }), /LONGLINK_API_PORT/);
    assert.equal(loadRouterSettings(router).apiPort, 8081, 'unset or empty: the default');
    assert.equal(loadRouterSettings({ ...router, LONGLINK_API_PORT: '' }).apiPort, 8081);
  });
});

describe('router process variables', () => {
  it('the shutdown deadline is bounded as the gateway\'s: past 2^31 - 1 ms setTimeout fired at once on SIGTERM', () => {
    assert.equal(loadConfig(routerProcessSpec, {}).shutdownTimeoutMs, 15000);
    assert.equal(loadConfig(routerProcessSpec, { LONGLINK_SHUTDOWN_TIMEOUT_MS: '3600000' }).shutdownTimeoutMs, 3_600_000);
    assert.throws(() => loadConfig(routerProcessSpec, { LONGLINK_SHUTDOWN_TIMEOUT_MS: '3000000000' }), /LONGLINK_SHUTDOWN_TIMEOUT_MS/);
  });
});
