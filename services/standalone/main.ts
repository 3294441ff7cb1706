/**
 * `npm start`: standalone Longlink (gateway + router, in-memory) for a
 * machine with nothing but Node. SIGTERM/SIGINT drain the gateway (clients
 * get reconnect frames, paced over LONGLINK_DRAIN_WINDOW_MS) and exit before
 * LONGLINK_SHUTDOWN_TIMEOUT_MS.
 */
import { helpText, loadConfig } from '../shared/config.js';
import { exitOnStartError } from '../shared/shutdown.js';
import { gatewaySpec } from '../gateway/config.js';
import { routerSpec } from '../router/config.js';
import { webhookSpec } from '../router/webhooks/config.js';
import { consoleSpec } from '../router/console/config.js';
import { startStandalone } from './app.js';
import { startTracing } from '../shared/tracing.js';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(helpText('Longlink standalone: gateway + router in one process, in-memory (no NATS, no Redis).\n\nUsage: npm start [-- --help]', [gatewaySpec, routerSpec, webhookSpec, consoleSpec]));
  process.exit(0);
}

try {
  // Off unless OTEL_* configures an exporter (docs/observability.md).
  const tracing = await startTracing({ serviceName: 'longlink' });
  const s = await startStandalone(process.env);
  const banner = [
    '',
    'Longlink standalone is running.',
    `  WebSocket:  ${s.gatewayUrl}`,
    `  Health:     ${s.gatewayHttpUrl}/healthz  ${s.gatewayHttpUrl}/readyz  ${s.gatewayHttpUrl}/metrics`,
    `  Push API:   ${s.apiUrl}/v1/push`,
    // A configured key is a secret: never echoed. Only a key generated for this run is shown.
    `  API key:    ${s.apiKeyGenerated ? `${s.apiKey}  (generated for this run)` : '(configured in LONGLINK_API_KEYS, not shown)'}`,
  ];
  const shownKey = s.apiKeyGenerated ? s.apiKey : '$API_KEY';
  if (s.console) {
    banner.push(`  Console:    ${s.console.url}`);
    banner.push(s.console.generated
      ? `  Console token (DEV, generated for this run): ${s.console.token}`
      : '  Console token: the value of LONGLINK_CONSOLE_TOKEN');
  }
  if (s.devSecret) {
    banner.push(
      '',
      '  !!! DEV MODE: tokens are signed with the PUBLIC built-in dev secret. Set LONGLINK_JWT_SECRET',
      '  !!! (and LONGLINK_API_KEYS) for anything real. The gateway listens on loopback only unless',
      '  !!! LONGLINK_GATEWAY_HOST is set (e.g. 0.0.0.0 to expose it).',
      '',
      '  Try it:  npm run token -- alice',
      '           npm run client -- alice',
      `           curl -s -H "Authorization: Bearer ${shownKey}" -H "Content-Type: application/json" \\`,
      `                -d '{"users":["alice"],"data":{"text":"hello"}}' ${s.apiUrl}/v1/push`,
    );
  }
  console.log(banner.join('\n') + '\n');
  // The validated value (startStandalone checked it): Number() read an empty LONGLINK_SHUTDOWN_TIMEOUT_MS as a 0 ms
  // deadline, where the configuration reads it as the default.
  const shutdownTimeoutMs = loadConfig({ t: gatewaySpec.shutdownTimeoutMs }, process.env).t;
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: draining ${s.gateway.core.connections} connection(s)…`);
    setTimeout(() => {
      console.error('shutdown deadline reached; exiting with connections still open');
      process.exit(1);
    }, shutdownTimeoutMs).unref();
    s.shutdown().then(() => tracing.shutdown()).then(
      () => process.exit(0),
      (err: unknown) => { console.error('shutdown failed:', err); process.exit(1); },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} catch (err) {
  exitOnStartError(err);
}
