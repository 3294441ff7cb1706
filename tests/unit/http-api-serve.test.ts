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

type When = 'before' | 'after' | 'on status' | 'on end';

function throwingTracer(when: When): TraceHooks {
  const broke = (): never => { throw new Error('tracer broke'); };
  return {
    enabled: true,
    span: (_name, _opts, fn) => {
      if (when === 'before') broke();
      const ran = fn({ setAttributes: when === 'on status' ? broke : () => {}, fail: () => {} } as never);
      if (when === 'after') broke();
      // As the OTel hooks do: the span ends once the handler's promise settles; ending it throws here.
      return when === 'on end' ? (ran as Promise<unknown>).then(broke) : ran;
    },
  } as TraceHooks;
}

describe('ApiHandler.serve with a tracer that throws', () => {
  for (const when of ['before', 'after', 'on status', 'on end'] as const) {
    it(`answers exactly once and resolves when the tracer throws ${when}`, async () => {
      const h = apiHandler({
        core: {} as RouterApi, ready: () => true, host: '127.0.0.1', port: 0, apiKeys: ['k'],
        limits: { maxBodyBytes: 1 << 16 }, log: silent, trace: throwingTracer(when),
      });
      const sent: Reply[] = [];
      let served: Promise<unknown> | undefined;
      assert.doesNotThrow(() => { served = h.serve(request(), (r) => { sent.push(r); return undefined; }, 0); });
      await assert.doesNotReject(served as Promise<unknown>);
      assert.deepEqual(sent.map((r) => r.status), [401]);
    });
  }
});
