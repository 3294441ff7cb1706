/**
 * Tracing across real processes: router and gateways configured only by the
 * standard OTEL_* variables export over OTLP/HTTP (JSON) to a receiver in
 * this test. One push must be one trace whose router spans and gateway spans
 * link up through the trace context carried in real NATS message headers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startCluster, type Cluster } from '../../infra/local/cluster-harness.js';
import { mustConnect, type TestClient } from '../helpers/client.js';

interface OtlpSpan { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; service: string }
interface OtlpExport {
  resourceSpans?: Array<{
    resource?: { attributes?: Array<{ key: string; value: { stringValue?: string } }> };
    scopeSpans?: Array<{ spans?: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number }> }>;
  }>;
}

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const CALLER_SPAN = 'b7ad6b7169203331';
const KIND_PRODUCER = 4;
const KIND_CONSUMER = 5;

describe('tracing across processes (OTLP, NATS headers)', () => {
  let cluster: Cluster | undefined;
  let receiver: Server | undefined;
  const spans: OtlpSpan[] = [];
  const clients: TestClient[] = [];

  before(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => { body += c; });
      req.on('end', () => {
        if (req.url === '/v1/traces') {
          const e = JSON.parse(body) as OtlpExport;
          for (const rs of e.resourceSpans ?? []) {
            const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
            for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) spans.push({ ...s, service });
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', r));
    const otel = {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };
    cluster = await startCluster({ gateways: 2, routers: 1, gatewayEnv: otel, routerEnv: otel });
  });

  after(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
    receiver?.closeAllConnections();
    await new Promise((r) => receiver?.close(r));
  });

  it('one push is one trace from the router API to the gateway\'s socket write', async () => {
    const c = cluster!;
    const client = await mustConnect(c.url, { token: await c.token('tina') });
    clients.push(client);
    await client.frame('hello');
    const res = await fetch(`${c.apiUrl}/v1/push`, {
      method: 'POST',
      headers: { authorization: 'Bearer cluster-api-key-0123456789', 'content-type': 'application/json', traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` },
      body: JSON.stringify({ users: ['tina'], data: { traced: true } }),
    });
    assert.equal(res.status, 200);
    const push = await client.frame('push');
    const t0 = Date.now();
    const inTrace = (): OtlpSpan[] => spans.filter((s) => s.traceId === TRACE_ID);
    while (!inTrace().some((s) => s.name === 'longlink.gateway.write') || !inTrace().some((s) => s.name === 'POST /v1/push')) {
      if (Date.now() - t0 > 15_000) assert.fail(`spans did not arrive; got: ${JSON.stringify(inTrace().map((s) => [s.name, s.service]))}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const one = (name: string): OtlpSpan => {
      const found = inTrace().filter((s) => s.name === name);
      assert.equal(found.length, 1, `one "${name}" in the trace: ${JSON.stringify(inTrace().map((s) => s.name))}`);
      return found[0]!;
    };
    const request = one('POST /v1/push');
    const route = one('longlink.router.push');
    const publish = one('publish longlink.gw.{gateway}.deliver');
    const deliver = one('process longlink.gw.{gateway}.deliver');
    const write = one('longlink.gateway.write');
    assert.equal(request.parentSpanId, CALLER_SPAN);
    assert.equal(route.parentSpanId, request.spanId);
    assert.equal(publish.parentSpanId, route.spanId);
    assert.equal(deliver.parentSpanId, publish.spanId, 'the gateway continued the context from the NATS headers');
    assert.equal(write.parentSpanId, deliver.spanId);
    assert.equal(publish.kind, KIND_PRODUCER);
    assert.equal(deliver.kind, KIND_CONSUMER);
    assert.deepEqual([request, route, publish].map((s) => s.service), ['longlink-router', 'longlink-router', 'longlink-router']);
    assert.deepEqual([deliver, write].map((s) => s.service), ['longlink-gateway', 'longlink-gateway']);
    assert.ok(push.seq >= 1);
  });
});
