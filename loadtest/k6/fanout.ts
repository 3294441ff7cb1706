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
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import type { Options } from 'k6/options';
import { API, API_KEY, envNum, rampClients, rampVus } from './common.ts';

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
  scenarios: {
    clients: { executor: 'per-vu-iterations', vus: VUS, iterations: 1, maxDuration: `${RAMP_S + SETTLE_S + PUBLISH_S + 60}s`, exec: 'clients' },
    publisher: {
      executor: 'constant-arrival-rate', exec: 'publisher', rate: PUBLISH_RATE, timeUnit: '1s', duration: `${PUBLISH_S}s`,
      startTime: `${RAMP_S + SETTLE_S}s`, preAllocatedVUs: Math.max(5, Math.ceil(PUBLISH_RATE / 20)), maxVUs: Math.max(20, PUBLISH_RATE),
    },
  },
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
  const body = JSON.stringify({ channel: CHANNEL, data: { t: Date.now() } });
  const res = http.post(`${API}/v1/publish`, body, { headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, tags: { name: 'publish' } });
  if (check(res, { 'publish 200': (r) => r.status === 200 })) published.add(1);
}
