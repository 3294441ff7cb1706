/**
 * reconnect-storm: CONNECTIONS users connect and settle; then all of them
 * lose their connection at the same instant and reconnect with resume,
 * spreading their attempts with the SDK's backoff (full jitter; RETRY=fixed
 * for the naive fixed 1 s retry). Each VU pushes to its own user through the
 * push API before the drop, while it is disconnected and after it is back,
 * and checks that every accepted push arrived (threshold: 0 lost).
 *
 * DROP=client (default): the VUs drop their own sockets at DROP_AT.
 * DROP=external: nothing is dropped by the script; kill a gateway yourself
 * during the hold (e.g. `kill -9` one gateway of a cluster behind a balancer)
 * and the VUs reconnect elsewhere. Pushes go out every PUSH_EVERY_S.
 *
 *   k6 run -e LONGLINK_URL=ws://lb:8080/ws -e LONGLINK_API=http://router:8081 -e LONGLINK_API_KEY=… \
 *          -e LONGLINK_JWT_SECRET=… -e CONNECTIONS=5000 dist/k6/reconnect-storm.js   # after npm run build:k6
 */
import exec from 'k6/execution';
import http from 'k6/http';
import { sleep } from 'k6';
import { setInterval, clearInterval, setTimeout } from 'k6/timers';
import type { Options } from 'k6/options';
import { FIXED_RETRY, SDK_RETRY } from '../lib/retry-policy.ts';
import { API, API_KEY, K6Connection, USER_PREFIX, envNum, envStr, m, touchCounters, urlFor } from './common.ts';

const CONNECTIONS = envNum('CONNECTIONS', 5000);
const RAMP_S = envNum('RAMP_S', 30);
const SETTLE_S = envNum('SETTLE_S', 10);
const DROP = envStr('DROP', 'client');
const HOLD_S = envNum('HOLD_S', 120); // DROP=external: how long to stay connected
const PUSH_EVERY_S = envNum('PUSH_EVERY_S', 5);
const VERIFY_S = envNum('VERIFY_S', 60);
const RETRY = envStr('RETRY', 'sdk') === 'fixed' ? FIXED_RETRY : { ...SDK_RETRY, baseMs: envNum('BASE_MS', SDK_RETRY.baseMs), capMs: envNum('CAP_MS', SDK_RETRY.capMs) };
const DROP_AT_S = RAMP_S + SETTLE_S;
const END_S = DROP === 'client' ? DROP_AT_S + VERIFY_S : RAMP_S + HOLD_S + VERIFY_S;

export const options: Options = {
  scenarios: { storm: { executor: 'per-vu-iterations', vus: CONNECTIONS, iterations: 1, maxDuration: `${END_S + 30}s` } },
  thresholds: {
    longlink_pushes_lost: ['count==0'],
    longlink_reconnect_ms: [`p(95)<${envNum('RECONNECT_P95_MS', 30_000)}`],
    longlink_resumed: ['rate>0.99'],
    ...(DROP === 'client' ? { longlink_unexpected_closes: ['count==0'] } : {}),
  },
};

export default function (): void {
  touchCounters();
  const n = exec.vu.idInTest - 1;
  const start = exec.scenario.startTime;
  const user = `${USER_PREFIX}${n}`;
  const expected = new Set<number>();
  const received = new Set<number>();
  let droppedAt = 0;
  let lastHello = 0;

  const c = new K6Connection({
    url: urlFor(n), user, retry: RETRY, reconnect: true,
    onEvent: (e) => {
      if (e.type === 'push' && !e.duplicate) received.add(e.frame.seq);
      if (e.type === 'hello') {
        // Every hello after the first one is a reconnect.
        if (lastHello !== 0) {
          m.resumed.add(e.frame.resumed);
          m.reconnectMs.add(Date.now() - (droppedAt || lastHello));
        }
        lastHello = Date.now();
      }
    },
  });

  const pushSelf = (): void => {
    void http.asyncRequest('POST', `${API}/v1/push`, JSON.stringify({ users: [user], data: { t: Date.now() } }),
      { headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, tags: { name: 'push' } })
      .then((r) => {
        const b = r.status === 200 ? (r.json() as unknown as { results?: Array<{ seq?: number; status?: string }> }) : undefined;
        const res = b?.results?.[0];
        if (res?.seq !== undefined && (res.status === 'sent' || res.status === 'offline')) expected.add(res.seq);
      });
  };

  let verified = false;
  const verify = (): void => {
    if (verified) return;
    verified = true;
    let missing = 0;
    for (const s of expected) if (!received.has(s)) missing++;
    m.lost.add(missing);
    c.close();
  };

  const at = (s: number, f: () => void): void => { setTimeout(f, Math.max(0, start + s * 1000 - Date.now())); };
  at((RAMP_S * n) / CONNECTIONS, () => c.connect());
  if (DROP === 'client') {
    at(DROP_AT_S - 3, pushSelf); // before the drop: arrives live
    at(DROP_AT_S, () => {
      droppedAt = Date.now();
      c.drop();
      pushSelf(); // while disconnected: stored, replayed on resume
      pushSelf();
    });
    // After the reconnect: live again. Then wait (bounded) until every accepted push is in.
    const poll = setInterval(() => {
      if (droppedAt !== 0 && lastHello > droppedAt && c.open) {
        clearInterval(poll);
        pushSelf();
        waitThenVerify();
      }
    }, 250);
    at(END_S, () => clearInterval(poll));
  } else {
    const every = setInterval(pushSelf, PUSH_EVERY_S * 1000);
    at(RAMP_S + HOLD_S, () => { clearInterval(every); waitThenVerify(); });
  }

  function waitThenVerify(): void {
    const w = setInterval(() => {
      let done = true;
      for (const s of expected) if (!received.has(s)) done = false;
      if (done || Date.now() >= start + END_S * 1000) { clearInterval(w); verify(); }
    }, 500);
  }
  at(END_S + 1, verify);
  sleep(0);
}
