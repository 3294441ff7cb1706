/**
 * A test rig: a real standalone Longlink (gateway + router, in process) behind
 * a NAT simulator. Used by the SDK integration tests and the heartbeat-rate
 * benchmark. Time is usually scaled down (see the callers): the gateway's
 * heartbeat bounds and wheel tick are set low enough for sub-second intervals.
 */
import { startStandalone, type Standalone } from '../../services/standalone/app.js';
import { NatProxy } from './nat-proxy.js';

export interface RigOptions {
  /** NAT idle timeout T (ms). */
  natTimeoutMs: number;
  /** Extra gateway/router environment (LONGLINK_*). */
  env?: Record<string, string>;
  delayMs?: number;
}

export interface Rig {
  readonly sa: Standalone;
  readonly proxy: NatProxy;
  /** ws://127.0.0.1:<proxy>/ws: through the NAT. */
  readonly url: string;
  /** The gateway itself, bypassing the NAT. */
  readonly directUrl: string;
  token(user: string, device?: string, ttlSeconds?: number): Promise<string>;
  /** POST /v1/push for one user; resolves with the API's JSON answer. */
  push(user: string, data: unknown): Promise<unknown>;
  /** POST /v1/kick (type kick or logout). */
  kick(user: string, type?: 'kick' | 'logout', device?: string): Promise<unknown>;
  close(): Promise<void>;
}

export const RIG_GATEWAY_ENV: Readonly<Record<string, string>> = Object.freeze({
  LONGLINK_GATEWAY_HOST: '127.0.0.1',
  LONGLINK_GATEWAY_PORT: '0',
  LONGLINK_API_PORT: '0',
  LONGLINK_LOG_LEVEL: 'silent',
  LONGLINK_DEV: 'true',
  LONGLINK_HB_MIN_MS: '100',
  LONGLINK_HB_MAX_MS: '3600000',
  LONGLINK_HB_DEFAULT_MS: '1000',
  LONGLINK_HB_GRACE_MS: '500',
  LONGLINK_WHEEL_TICK_MS: '50',
  LONGLINK_DRAIN_WINDOW_MS: '0',
  LONGLINK_DRAIN_RECONNECT_JITTER_MS: '0',
});

export async function startRig(o: RigOptions): Promise<Rig> {
  const sa = await startStandalone({ ...RIG_GATEWAY_ENV, ...o.env });
  const gw = new URL(sa.gatewayUrl);
  let proxy: NatProxy;
  try {
    proxy = await NatProxy.start({ targetHost: gw.hostname, targetPort: Number(gw.port), idleTimeoutMs: o.natTimeoutMs, delayMs: o.delayMs ?? 0 });
  } catch (err) {
    await sa.close();
    throw err;
  }
  const api = async (path: string, body: unknown): Promise<unknown> => {
    const res = await fetch(`${sa.apiUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${sa.apiKey}` },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${text}`);
    return JSON.parse(text) as unknown;
  };
  return {
    sa, proxy,
    url: `ws://127.0.0.1:${proxy.port}/ws`,
    directUrl: sa.gatewayUrl,
    token: (user, device, ttlSeconds) => sa.mintToken(user, { ...(device !== undefined ? { device } : {}), ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) }),
    push: (user, data) => api('/v1/push', { user, data }),
    kick: (user, type = 'kick', device) => api('/v1/kick', { user, type, ...(device !== undefined ? { device } : {}) }),
    async close() {
      await proxy.close();
      await sa.close();
    },
  };
}
