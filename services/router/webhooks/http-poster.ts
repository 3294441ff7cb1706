/**
 * WebhookPoster over Node's fetch (undici, keep-alive pooled per origin).
 * Redirects are not followed (a 3xx is a failed attempt: a receiver that
 * moved gets a config change, not our signed bodies at a new address); the
 * response body is discarded unread; the time limit covers the whole attempt.
 */
import type { PostResult, WebhookPoster } from './core/dispatcher.js';

export const fetchPoster: WebhookPoster = {
  async post(url, headers, body, timeoutMs): Promise<PostResult> {
    try {
      const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
      await res.body?.cancel().catch(() => undefined);
      return { status: res.status };
    } catch (err) {
      const e = err as { name?: string; cause?: { code?: string; message?: string }; message?: string };
      if (e.name === 'TimeoutError' || e.name === 'AbortError') return { error: 'timeout' };
      return { error: e.cause?.code ?? e.cause?.message ?? e.message ?? 'request failed' };
    }
  },
};
