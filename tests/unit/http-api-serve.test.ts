/**
 * `ApiHandler.serve` never throws or rejects: the adapters count requests in
 * flight on its promise, and a throw would escape into the server library's
 * callback. A tracer that throws costs the trace, never the answer.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { apiHandler, type RouterApi } from '../../services/router/http-api.js';
import type { ApiRequest, Reply } from '../../services/router/http-body.js';
import type { TraceHooks } from '../../services/shared/trace-hooks.js';
import { silent } from '../helpers/log.js';

const request = (): ApiRequest => ({
  method: 'POST', url: '/v1/push', traceCarrier: () => ({}),
  header: (n) => ({ authorization: 'Bearer wrong', 'content-type': 'application/json' })[n],
  body: async () => ({ ok: true, text: '{}' }),
});

function throwingTracer(when: 'before' | 'after'): TraceHooks {
  return {
    enabled: true,
    span: (_name, _opts, fn) => {
      if (when === 'before') throw new Error('tracer broke');
      fn({ setAttributes: () => {}, fail: () => {} } as never);
      throw new Error('tracer broke');
    },
  } as TraceHooks;
}

describe('ApiHandler.serve with a tracer that throws', () => {
  for (const when of ['before', 'after'] as const) {
    it(`answers exactly once and resolves when the span throws ${when} running the handler`, async () => {
      const h = apiHandler({
        core: {} as RouterApi, ready: () => true, host: '127.0.0.1', port: 0, apiKeys: ['k'],
        limits: { maxBodyBytes: 1 << 16 }, log: silent, trace: throwingTracer(when),
      });
      const sent: Reply[] = [];
      let served: Promise<unknown> | undefined;
      assert.doesNotThrow(() => { served = h.serve(request(), (r) => { sent.push(r); return undefined; }, 0); });
      await served;
      assert.deepEqual(sent.map((r) => r.status), [401]);
    });
  }
});
