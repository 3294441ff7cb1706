/**
 * Gateway process (cluster mode): config → NATS bus → gateway. Holds no
 * durable state; any gateway can die and its clients resume on another.
 * While NATS is away the gateway keeps its sockets and heartbeats, the bus
 * holds presence events (bounded), and /readyz reports degraded.
 */
import os from 'node:os';
import { ConfigError, helpText, loadConfig } from '../shared/config.js';
import { natsSpec } from '../shared/cluster-config.js';
import { connectNatsBus } from '../shared/bus/nats-bus.js';
import { payloadLimitProblems } from '../shared/bus/payload-limits.js';
import { subjects } from '../shared/bus/subjects.js';
import { createLogger } from '../shared/log.js';
import { exitOnStartError, onShutdown } from '../shared/shutdown.js';
import { gatewaySpec, loadGatewayConfig } from './config.js';
import { startGateway } from './app.js';
import { startTracing } from '../shared/tracing.js';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(helpText('Longlink gateway (cluster mode: NATS).\n\nUsage: node dist/services/gateway/main.js', [gatewaySpec, natsSpec]));
  process.exit(0);
}

try {
  const config = loadGatewayConfig();
  const nats = loadConfig(natsSpec);
  const log = createLogger('longlink-gateway', config.logLevel);
  // Off unless OTEL_* configures an exporter (docs/observability.md).
  const tracing = await startTracing({ serviceName: 'longlink-gateway' });
  const bus = await connectNatsBus({ servers: nats.natsUrls, name: `gateway-${config.gatewayId ?? os.hostname()}`, log, pingIntervalMs: nats.natsPingIntervalMs });
  // A client's send is forwarded upstream in one bus message, its data re-encoded (JSON.stringify writes some
  // numbers longer than they came, docs/deploy.md): this catches a limit the server cannot carry even as sent.
  const tooBig = payloadLimitProblems(bus.connection.info?.max_payload, { LONGLINK_MAX_PAYLOAD: config.maxPayload });
  if (tooBig.length > 0) { await bus.close(); throw new ConfigError(tooBig); }
  const gw = await startGateway({ config, bus, subjects: subjects(nats.prefix), log, ready: () => bus.status === 'connected', nats: bus });
  bus.onStatus((e) => {
    // After an outage, announce every live connection again so the directory
    // has no missing online user (offline events were held by the bus).
    if (e.type === 'reconnect') gw.listener.reannounce();
  });
  console.log(`gateway ${gw.id} listening on ws://${config.host}:${gw.port}/ws (NATS ${nats.natsUrls.join(',')})`);
  onShutdown(async () => {
    await gw.drain();
    await gw.close();
    await bus.close();
    await tracing.shutdown();
  }, config.shutdownTimeoutMs, log);
} catch (err) {
  exitOnStartError(err);
}
