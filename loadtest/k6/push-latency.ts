/**
 * push-latency: CONNECTIONS users connected and heartbeating; a second
 * scenario pushes to random users through the router's push API at
 * PUSH_RATE per second. Each client measures end-to-end latency from the
 * pusher's timestamp (`data.t`, epoch ms, taken just before the HTTP call)
 * and from the router's `ts`. k6 runs both scenarios on one clock.
 *
 *   k6 run -e LONGLINK_URL=ws://gw:8080/ws -e LONGLINK_API=http://router:8081 \
 *          -e LONGLINK_API_KEY=… -e LONGLINK_JWT_SECRET=… \
 *          -e CONNECTIONS=2000 -e PUSH_RATE=500 -e PUSH_S=60 dist/k6/push-latency.js   # after npm run build:k6
 */
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import type { Options } from 'k6/options';
import { USER_PREFIX, apiPost, clientsAndSender, envNum, rampClients, rampVus } from './common.ts';

const CONNECTIONS = envNum('CONNECTIONS', 2000);
const PER_VU = Math.max(1, envNum('CONNS_PER_VU', 1));
const VUS = rampVus(CONNECTIONS, PER_VU);
const RAMP_S = envNum('RAMP_S', 30);
const SETTLE_S = envNum('SETTLE_S', 5);
const PUSH_S = envNum('PUSH_S', 60);
const PUSH_RATE = envNum('PUSH_RATE', 500);
const pushesAccepted = new Counter('longlink_pushes_accepted');

export const options: Options = {
  scenarios: clientsAndSender({ clientVus: VUS, rampS: RAMP_S, settleS: SETTLE_S, exec: 'pusher', rate: PUSH_RATE, sendS: PUSH_S, minPreVus: 10, minMaxVus: 50 }),
  thresholds: {
    longlink_push_latency_ms: [`p(95)<${envNum('PUSH_P95_MS', 100)}`, `p(99)<${envNum('PUSH_P99_MS', 250)}`],
    'http_req_failed{scenario:pusher}': ['rate<0.01'],
    'checks{scenario:pusher}': ['rate>0.99'],
    longlink_unexpected_closes: ['count==0'],
    longlink_connect_failures: ['count==0'],
  },
};

export function clients(): void {
  rampClients({ connections: CONNECTIONS, perVu: PER_VU, rampS: RAMP_S, closeAtS: RAMP_S + SETTLE_S + PUSH_S + 5, conn: { reconnect: true } });
}

export function pusher(): void {
  const user = `${USER_PREFIX}${Math.floor(Math.random() * CONNECTIONS)}`;
  const res = apiPost('/v1/push', { users: [user], data: { t: Date.now() } }, 'push');
  const ok = check(res, {
    'push 200': (r) => r.status === 200,
    'push sent to a live connection': (r) => {
      const b = r.json() as { results?: Array<{ status?: string }> } | null;
      return b?.results?.[0]?.status === 'sent';
    },
  });
  if (ok) pushesAccepted.add(1);
}
