/**
 * fanout: CONNECTIONS clients subscribed to one channel (the token's
 * `channels` claim) and heartbeating; a second scenario publishes to that
 * channel through the router's API at PUBLISH_RATE per second. Every client
 * measures end-to-end latency from the publisher's timestamp (`data.t`,
 * taken just before the HTTP call); each publish is CONNECTIONS deliveries.
 *
 *   k6 run -e LONGLINK_URL=ws://gw:8080/ws -e LONGLINK_API=http://router:8081 \
 *          -e LONGLINK_API_KEY=… -e LONGLINK_JWT_SECRET=… \
 *          -e CONNECTIONS=2000 -e PUBLISH_RATE=10 -e PUBLISH_S=60 dist/k6/fanout.js   # after npm run build:k6
 */
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import type { Options } from 'k6/options';
import { apiPost, clientsAndSender, envNum, rampClients, rampVus } from './common.ts';

const CONNECTIONS = envNum('CONNECTIONS', 2000);
const PER_VU = Math.max(1, envNum('CONNS_PER_VU', 1));
const VUS = rampVus(CONNECTIONS, PER_VU);
const RAMP_S = envNum('RAMP_S', 30);
const SETTLE_S = envNum('SETTLE_S', 5);
const PUBLISH_S = envNum('PUBLISH_S', 60);
const PUBLISH_RATE = envNum('PUBLISH_RATE', 10);
const CHANNEL = (typeof __ENV.CHANNEL === 'string' && __ENV.CHANNEL !== '') ? __ENV.CHANNEL : 'k6:fanout';
const published = new Counter('longlink_channel_publishes_accepted');

export const options: Options = {
  scenarios: clientsAndSender({ clientVus: VUS, rampS: RAMP_S, settleS: SETTLE_S, exec: 'publisher', rate: PUBLISH_RATE, sendS: PUBLISH_S, minPreVus: 5, minMaxVus: 20 }),
  thresholds: {
    longlink_channel_latency_ms: [`p(99)<${envNum('CHANNEL_P99_MS', 1000)}`],
    'http_req_failed{scenario:publisher}': ['rate<0.01'],
    'checks{scenario:publisher}': ['rate>0.99'],
    longlink_unexpected_closes: ['count==0'],
    longlink_connect_failures: ['count==0'],
  },
};

export function clients(): void {
  rampClients({ connections: CONNECTIONS, perVu: PER_VU, rampS: RAMP_S, closeAtS: RAMP_S + SETTLE_S + PUBLISH_S + 5, conn: { reconnect: true, channels: [CHANNEL] } });
}

export function publisher(): void {
  const res = apiPost('/v1/publish', { channel: CHANNEL, data: { t: Date.now() } }, 'publish');
  if (check(res, { 'publish 200': (r) => r.status === 200 })) published.add(1);
}
