/**
 * Tracing in-process (standalone mode, in-memory span exporter): one push is
 * one trace from the push API through the router, the bus (context in
 * message headers, exactly as over NATS) and the gateway to the socket write,
 * with each span's parent the one before it. Session start (resume) and kick
 * are traced the same way.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import type { Standalone } from '../../services/standalone/app.js';
import { startTracing, subjectTemplate, tracingConfigured, type Tracing } from '../../services/shared/tracing.js';
import { mustConnect, type TestClient } from '../helpers/client.js';
import { start } from '../helpers/standalone.js';

const exporter = new InMemorySpanExporter();
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

const spanId = (s: ReadableSpan): string => s.spanContext().spanId;
const traceId = (s: ReadableSpan): string => s.spanContext().traceId;
const scope = (s: ReadableSpan): string => s.instrumentationScope.name;

async function spansUntil(pred: (spans: ReadableSpan[]) => boolean, what: string): Promise<ReadableSpan[]> {
  const t0 = Date.now();
  for (;;) {
    const spans = exporter.getFinishedSpans();
    if (pred(spans)) return spans;
    if (Date.now() - t0 > 5000) {
      throw new Error(`timed out waiting for ${what}; spans: ${spans.map((s) => `${s.name}(${scope(s)})`).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The one span called `name` in `trace` (fails if there is none or several). */
function one(spans: ReadableSpan[], trace: string, name: string): ReadableSpan {
  const found = spans.filter((s) => traceId(s) === trace && s.name === name);
  assert.equal(found.length, 1, `expected one "${name}" in trace ${trace}, got ${found.length}: ${spans.filter((s) => traceId(s) === trace).map((s) => s.name).join(', ')}`);
  return found[0]!;
}

function assertChild(child: ReadableSpan, parent: ReadableSpan): void {
  assert.equal(traceId(child), traceId(parent), `${child.name} is in ${parent.name}'s trace`);
  assert.equal(child.parentSpanContext?.spanId, spanId(parent), `${child.name}'s parent is ${parent.name}`);
}

describe('tracing (OpenTelemetry, in-process)', () => {
  let s: Standalone;
  let tracing: Tracing;
  const clients: TestClient[] = [];
  const open = async (user: string): Promise<TestClient> => {
    const c = await mustConnect(s.gatewayUrl, { token: await s.mintToken(user) });
    clients.push(c);
    await c.frame('hello');
    return c;
  };
  const api = (path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> => fetch(s.apiUrl + path, {
    method: 'POST', headers: { authorization: `Bearer ${s.apiKey}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
  });

  before(async () => {
    tracing = await startTracing({ serviceName: 'longlink-test', spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    s = await start();
  });
  after(async () => {
    for (const c of clients) c.close();
    await s.close();
    await tracing.shutdown();
  });

  it('is off unless OTEL_* configures an exporter', () => {
    assert.equal(tracingConfigured({}), false);
    assert.equal(tracingConfigured({ OTEL_TRACES_EXPORTER: 'none' }), false);
    assert.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), true);
    assert.equal(tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }), true);
    assert.equal(tracingConfigured({ OTEL_TRACES_EXPORTER: 'otlp' }), true);
    assert.equal(tracingConfigured({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }), false);
    assert.equal(subjectTemplate('longlink.gw.gw-7.deliver'), 'longlink.gw.{gateway}.deliver');
    assert.equal(subjectTemplate('longlink.receipts.abc'), 'longlink.receipts.{router}');
    assert.equal(subjectTemplate('longlink.upstream.chat.room'), 'longlink.upstream.{topic}');
    assert.equal(subjectTemplate('longlink.ch.room:1.eu'), 'longlink.ch.{channel}');
    assert.equal(subjectTemplate('longlink.chcounts.abc.7'), 'longlink.chcounts.{router}');
  });

  it('one push is one trace: API request → router → publish → gateway deliver → socket write', async () => {
    const alice = await open('alice');
    exporter.reset();
    const res = await api('/v1/push', { users: ['alice'], data: { n: 1 } }, { traceparent: `00-${TRACE_ID}-${CALLER_SPAN}-01` });
    assert.equal(res.status, 200);
    const frame = await alice.frame('push');
    const spans = await spansUntil((all) => all.some((x) => x.name === 'longlink.gateway.write') && all.some((x) => x.name === 'POST /v1/push'), 'the push trace');

    const request = one(spans, TRACE_ID, 'POST /v1/push');
    assert.equal(request.parentSpanContext?.spanId, CALLER_SPAN, 'continues the caller\'s traceparent');
    assert.equal(request.kind, SpanKind.SERVER);
    assert.equal(request.attributes['http.response.status_code'], 200);
    const route = one(spans, TRACE_ID, 'longlink.router.push');
    const publish = one(spans, TRACE_ID, 'publish longlink.gw.{gateway}.deliver');
    const deliver = one(spans, TRACE_ID, 'process longlink.gw.{gateway}.deliver');
    const write = one(spans, TRACE_ID, 'longlink.gateway.write');
    assertChild(route, request);
    assertChild(publish, route);
    assertChild(deliver, publish);
    assertChild(write, deliver);
    assert.equal(publish.kind, SpanKind.PRODUCER);
    assert.equal(deliver.kind, SpanKind.CONSUMER);
    assert.deepEqual([request, route, publish].map(scope), ['longlink-router', 'longlink-router', 'longlink-router']);
    assert.deepEqual([deliver, write].map(scope), ['longlink-gateway', 'longlink-gateway']);
    assert.equal(publish.attributes['messaging.destination.name'], `longlink.gw.${s.gateway.id}.deliver`);
    assert.equal(write.attributes['longlink.seq'], frame.seq);
    assert.equal(write.attributes['longlink.path'], 'live');
    // Nothing else of this push escaped into another trace.
    assert.equal(spans.filter((x) => x.name === 'longlink.gateway.write' && traceId(x) !== TRACE_ID).length, 0);
  });

  it('one channel publish is one trace: API request → bus publish → gateway consumer → native fan-out', async () => {
    const bob = await mustConnect(s.gatewayUrl, { token: await s.mintToken('bob', { channels: ['room:traced'] }), query: { channels: '1' } });
    clients.push(bob);
    await bob.until(() => bob.frames.find((f) => f.op === 'subscribed' && f.channel === 'room:traced'));
    exporter.reset();
    const trace = 'aaf92f3577b34da6a3ce929d0e0e4736';
    const res = await api('/v1/publish', { channel: 'room:traced', data: 1 }, { traceparent: `00-${trace}-${CALLER_SPAN}-01` });
    assert.equal(res.status, 200);
    await bob.until(() => bob.frames.find((f) => f.op === 'pub' && f.channel === 'room:traced'));
    const spans = await spansUntil((all) => all.some((x) => x.name === 'longlink.gateway.fanout') && all.some((x) => x.name === 'POST /v1/publish'), 'the publish trace');
    const request = one(spans, trace, 'POST /v1/publish');
    const publish = one(spans, trace, 'publish longlink.ch.{channel}');
    const consume = one(spans, trace, 'process longlink.ch.{channel}');
    const fanout = one(spans, trace, 'longlink.gateway.fanout');
    assertChild(publish, request);
    assertChild(consume, publish);
    assertChild(fanout, consume);
    assert.deepEqual([fanout.attributes['longlink.channel'], fanout.attributes['longlink.offset'], fanout.attributes['longlink.subscribers']], ['room:traced', 1, 1]);
  });

  it('a session start is one trace: gateway session → resume request → router resume → replay writes', async () => {
    const pushed = await api('/v1/push', { users: ['carol'], data: { waiting: true } });
    assert.equal(pushed.status, 200);
    exporter.reset();
    const carol = await open('carol');
    await carol.frame('push');
    const spans = await spansUntil((all) => all.some((x) => x.name === 'longlink.gateway.session') && all.some((x) => x.name === 'longlink.router.resume'), 'the session trace');
    const session = spans.find((x) => x.name === 'longlink.gateway.session')!;
    const t = traceId(session);
    assert.equal(session.parentSpanContext, undefined, 'a session start is a root span');
    const request = one(spans, t, 'request longlink.resume');
    const process = one(spans, t, 'process longlink.resume');
    const resume = one(spans, t, 'longlink.router.resume');
    const write = one(spans, t, 'longlink.gateway.write');
    assertChild(request, session);
    assertChild(process, request);
    assertChild(resume, process);
    assertChild(write, session);
    assert.equal(write.attributes['longlink.path'], 'replay');
    assert.equal(request.kind, SpanKind.CLIENT);
    assert.deepEqual([session, request, write].map(scope), ['longlink-gateway', 'longlink-gateway', 'longlink-gateway']);
    assert.deepEqual([process, resume].map(scope), ['longlink-router', 'longlink-router']);
    // The resume request itself registers the connection online (no separate presence publish).
    assert.equal(spans.filter((x) => traceId(x) === t && x.name === 'publish longlink.presence').length, 0);
  });

  it('a kick is one trace: API request → control publish → gateway control', async () => {
    // (The offline presence event that follows is published from uWS's close
    // callback, which runs outside any context: it is not part of this trace.)
    const dave = await open('dave');
    exporter.reset();
    const res = await api('/v1/kick', { user: 'dave' });
    assert.equal(res.status, 200);
    await dave.closeEvent();
    const spans = await spansUntil((all) => all.some((x) => x.name === 'process longlink.gw.{gateway}.control') && all.some((x) => x.name === 'POST /v1/kick'), 'the kick trace');
    const request = spans.find((x) => x.name === 'POST /v1/kick')!;
    const t = traceId(request);
    const publish = one(spans, t, 'publish longlink.gw.{gateway}.control');
    const control = one(spans, t, 'process longlink.gw.{gateway}.control');
    assertChild(publish, request);
    assertChild(control, publish);
    assert.equal(scope(control), 'longlink-gateway');
  });

  it('probes, scrapes and background bus traffic start no traces', async () => {
    exporter.reset();
    await (await fetch(`${s.apiUrl}/healthz`)).text();
    await (await fetch(`${s.apiUrl}/metrics`)).text();
    await (await fetch(`${s.gatewayHttpUrl}/metrics`)).text();
    s.gateway.listener.beacon();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(exporter.getFinishedSpans().map((x) => x.name), []);
  });
});
