/** Starts standalone Longlink in-process on free ports with test-friendly settings. */
import { startStandalone, type Standalone } from '../../services/standalone/app.js';

export const TEST_SECRET = 'test-secret-0123456789-0123456789-abcdef';
export const TEST_API_KEY = 'test-api-key-0123456789';

export function start(env: Record<string, string> = {}): Promise<Standalone> {
  return startStandalone({
    LONGLINK_GATEWAY_HOST: '127.0.0.1',
    LONGLINK_GATEWAY_PORT: '0',
    LONGLINK_API_PORT: '0',
    LONGLINK_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    LONGLINK_JWT_SECRET: TEST_SECRET,
    LONGLINK_API_KEYS: TEST_API_KEY,
    // The API server under test (LONGLINK_API_SERVER=uws|node runs the suites over either adapter).
    ...(process.env.LONGLINK_API_SERVER ? { LONGLINK_API_SERVER: process.env.LONGLINK_API_SERVER } : {}),
    ...env,
  });
}

export async function push(s: Standalone, users: string[], data: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${s.apiUrl}/v1/push`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ users, data }),
  });
  return { status: res.status, body: await res.json() };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
