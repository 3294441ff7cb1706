/**
 * c10k: ramp to CONNECTIONS heartbeating Longlink connections, hold them,
 * close them. Thresholds: connect time (upgrade → hello), heartbeat-ack
 * round trip, and no unexpected close, no failed connect, no zombie.
 *
 *   k6 run -e LONGLINK_URL=ws://gw:8080/ws -e LONGLINK_JWT_SECRET=… \
 *          -e CONNECTIONS=10000 -e RAMP_S=60 -e HOLD_S=300 -e HB_MS=30000 dist/k6/c10k.js   # after npm run build:k6
 *
 * CONNS_PER_VU (default 1) holds several connections per VU, which keeps k6's
 * own memory down at large counts. See loadtest/README.md.
 */
import type { Options } from 'k6/options';
import { HB_MS, envNum, rampClients, rampVus } from './common.ts';

const CONNECTIONS = envNum('CONNECTIONS', 10_000);
const PER_VU = Math.max(1, envNum('CONNS_PER_VU', 1));
const VUS = rampVus(CONNECTIONS, PER_VU);
const RAMP_S = envNum('RAMP_S', 60);
const HOLD_S = envNum('HOLD_S', 300);

export const options: Options = {
  scenarios: {
    c10k: { executor: 'per-vu-iterations', vus: VUS, iterations: 1, maxDuration: `${RAMP_S + HOLD_S + 60}s`, gracefulStop: '30s' },
  },
  thresholds: {
    longlink_connect_ms: [`p(95)<${envNum('CONNECT_P95_MS', 1000)}`],
    longlink_heartbeat_ack_ms: [`p(95)<${envNum('ACK_P95_MS', 100)}`],
    longlink_unexpected_closes: ['count==0'],
    longlink_connect_failures: ['count==0'],
    longlink_zombies: ['count==0'],
    // Every connection heartbeats at least once during the hold.
    longlink_heartbeats_sent: [`count>=${HOLD_S * 1000 >= HB_MS ? CONNECTIONS : 0}`],
  },
};

export default function (): void {
  rampClients({ connections: CONNECTIONS, perVu: PER_VU, rampS: RAMP_S, closeAtS: RAMP_S + HOLD_S, conn: { reconnect: false } });
}
