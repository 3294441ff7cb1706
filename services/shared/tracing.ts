/**
 * OpenTelemetry tracing: off unless configured by the standard OTEL_*
 * variables, then exported over OTLP by @opentelemetry/sdk-node.
 *
 * Contract:
 *  - `startTracing()` is called once by a process entry point, before the
 *    service is built. It enables tracing when OTEL_TRACES_EXPORTER names an
 *    exporter (otlp, console, zipkin) or OTEL_EXPORTER_OTLP_ENDPOINT /
 *    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, and OTEL_SDK_DISABLED is not
 *    true. Everything else (protocol, headers, sampler, batch delays, resource
 *    attributes) is the SDK's standard OTEL_* handling. Only traces are
 *    exported: metrics stay on Prometheus (/metrics), so the SDK's metric and
 *    log pipelines are switched off explicitly (sdk-node would otherwise
 *    default them to OTLP as well).
 *  - `traceHooks(component)` and `traceBus(bus, …)` return pass-throughs
 *    (NO_TRACING, the bus itself) unless tracing was started first, so a
 *    process without OTEL_* configuration pays nothing.
 *  - Trace context crosses the bus in message headers (W3C `traceparent`,
 *    via the globally configured propagator): NATS headers in cluster mode,
 *    the MemoryBus passes the same object in standalone mode.
 *
 * This is the only module that imports OpenTelemetry; core code sees the
 * dependency-free `TraceHooks` interface (trace-hooks.ts).
 */
import {
  ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace,
  type Context, type Span, type Tracer,
} from '@opentelemetry/api';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import type { Bus, BusMessage, Headers, Subscription } from './bus/bus.js';
import { NO_TRACING, type TraceHooks, type TraceSpan, type TraceSpanKind, type TraceSpanOptions } from './trace-hooks.js';

export interface Tracing {
  readonly enabled: boolean;
  /** Flushes buffered spans and stops the SDK. Idempotent. */
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  /** service.name unless OTEL_SERVICE_NAME is set. */
  serviceName: string;
  /**
   * Span processors to use instead of the OTEL_* exporter settings; giving
   * them enables tracing regardless of the environment (tests use an
   * in-memory exporter).
   */
  spanProcessors?: SpanProcessor[];
}

const DISABLED: Tracing = Object.freeze({ enabled: false, shutdown: async () => undefined });
let running: Tracing | undefined;

const isTrue = (v: string | undefined): boolean => v !== undefined && v.trim().toLowerCase() === 'true';

/** Whether the OTEL_* environment asks for trace export. */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (isTrue(env.OTEL_SDK_DISABLED)) return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (exporters.length > 0) return !exporters.every((e) => e === 'none');
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

/** True once startTracing() enabled the SDK in this process. */
export function tracingEnabled(): boolean {
  return running?.enabled ?? false;
}

/**
 * Starts the OpenTelemetry SDK if configured (see the module comment). The
 * SDK is imported lazily, so an unconfigured process never loads it. A
 * second call returns the first result.
 */
export async function startTracing(o: StartTracingOptions): Promise<Tracing> {
  if (running) return running;
  if (!o.spanProcessors && !tracingConfigured()) return DISABLED;
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({
    ...(process.env.OTEL_SERVICE_NAME ? {} : { serviceName: o.serviceName }),
    ...(o.spanProcessors ? { spanProcessors: o.spanProcessors } : {}),
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  let stopped: Promise<void> | undefined;
  running = { enabled: true, shutdown: () => (stopped ??= sdk.shutdown().catch(() => undefined)) };
  return running;
}

// ---- hooks for core code ---------------------------------------------------------------

const KIND: Record<TraceSpanKind, SpanKind> = {
  internal: SpanKind.INTERNAL, server: SpanKind.SERVER, client: SpanKind.CLIENT, producer: SpanKind.PRODUCER, consumer: SpanKind.CONSUMER,
};

const NOOP_SPAN: TraceSpan = { setAttributes: () => undefined, fail: () => undefined };

function failSpan(span: Span, err: unknown): void {
  if (err instanceof Error) span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/** Runs fn with `span` active; ends it when fn returns or its promise settles. */
function runInSpan<T>(parent: Context, span: Span, fn: () => T): T {
  return context.with(trace.setSpan(parent, span), () => {
    let r: T;
    try {
      r = fn();
    } catch (err) {
      failSpan(span, err);
      span.end();
      throw err;
    }
    if (r instanceof Promise) {
      return r.then(
        (v: unknown) => { span.end(); return v; },
        (err: unknown) => { failSpan(span, err); span.end(); throw err; },
      ) as T;
    }
    span.end();
    return r;
  });
}

class OtelTraceHooks implements TraceHooks {
  readonly enabled = true;
  constructor(private readonly tracer: Tracer) {}

  span<T>(name: string, opts: TraceSpanOptions, fn: (span: TraceSpan) => T): T {
    const parent = opts.carrier ? propagation.extract(context.active(), opts.carrier) : context.active();
    if (opts.childOnly && !trace.getSpan(parent)?.isRecording()) return fn(NOOP_SPAN);
    const span = this.tracer.startSpan(name, { kind: KIND[opts.kind ?? 'internal'], ...(opts.attrs ? { attributes: opts.attrs } : {}) }, parent);
    const handle: TraceSpan = {
      setAttributes: (a) => { span.setAttributes(a); },
      fail: (message) => { span.setStatus({ code: SpanStatusCode.ERROR, message }); },
    };
    return runInSpan(parent, span, () => fn(handle));
  }
}

/** Hooks for one component's core (instrumentation scope `component`, e.g. "longlink-gateway"). */
export function traceHooks(component: string): TraceHooks {
  return tracingEnabled() ? new OtelTraceHooks(trace.getTracer(component)) : NO_TRACING;
}

// ---- the bus ---------------------------------------------------------------------------

/**
 * Span names must stay low-cardinality: per-instance subject tokens
 * (gateway ids, router ids, upstream topics) become placeholders.
 * `longlink.gw.gw-7.deliver` → `longlink.gw.{gateway}.deliver`.
 */
export function subjectTemplate(subject: string): string {
  if (subject.startsWith('_INBOX.')) return '_INBOX';
  return subject
    .replace(/\.gw\.[^.]+\.(deliver|control)$/, '.gw.{gateway}.$1')
    .replace(/\.receipts\.[^.]+$/, '.receipts.{router}')
    .replace(/\.upstream\.[^>]+$/, '.upstream.{topic}')
    .replace(/\.ch\.[^>]+$/, '.ch.{channel}')
    .replace(/\.chcounts\.[^>]+$/, '.chcounts.{router}');
}

const ENTRY_SETTER = { set: (carrier: Headers, key: string, value: string) => { carrier[key] = value; } };

/**
 * A Bus that carries trace context: publish/request inside an active span
 * create a PRODUCER/CLIENT span and inject it into the message headers;
 * a received message carrying context is handled inside a CONSUMER span,
 * child of the sender's. Messages sent outside any trace (beacons, acks,
 * presence from sockets) stay untouched: no header, no span.
 */
class TracedBus implements Bus {
  constructor(private readonly inner: Bus, private readonly tracer: Tracer, private readonly system: string) {}

  private producer(subject: string, data: Uint8Array, kind: SpanKind, parent: Context): Span {
    const t = subjectTemplate(subject);
    return this.tracer.startSpan(`${kind === SpanKind.CLIENT ? 'request' : 'publish'} ${t}`, {
      kind,
      attributes: {
        'messaging.system': this.system, 'messaging.operation.type': 'send', 'messaging.destination.name': subject,
        'messaging.destination.template': t, 'messaging.message.body.size': data.byteLength,
      },
    }, parent);
  }

  private inject(parent: Context, span: Span, headers: Headers | undefined): Headers {
    const out: Headers = { ...headers };
    propagation.inject(trace.setSpan(parent, span), out, ENTRY_SETTER);
    return out;
  }

  publish(subject: string, data: Uint8Array, headers?: Headers): void {
    const parent = context.active();
    if (!trace.getSpan(parent)?.isRecording()) { this.inner.publish(subject, data, headers); return; }
    const span = this.producer(subject, data, SpanKind.PRODUCER, parent);
    try {
      this.inner.publish(subject, data, this.inject(parent, span, headers));
    } catch (err) {
      failSpan(span, err);
      throw err;
    } finally {
      span.end();
    }
  }

  interested(subject: string): boolean {
    return this.inner.interested?.(subject) ?? true;
  }

  handOver(): void {
    this.inner.handOver?.();
  }

  request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers?: Headers }): Promise<BusMessage> {
    const parent = context.active();
    if (!trace.getSpan(parent)?.isRecording()) return this.inner.request(subject, data, opts);
    const span = this.producer(subject, data, SpanKind.CLIENT, parent);
    return runInSpan(parent, span, () => this.inner.request(subject, data, { ...opts, headers: this.inject(parent, span, opts.headers) }));
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void, opts?: { queue?: string }): Subscription {
    return this.inner.subscribe(subject, (m) => this.handle(m, handler), opts);
  }

  private handle(m: BusMessage, handler: (msg: BusMessage) => void): void {
    if (m.headers === undefined) { handler(m); return; }
    const parent = propagation.extract(ROOT_CONTEXT, m.headers);
    if (trace.getSpanContext(parent) === undefined) { handler(m); return; }
    const t = subjectTemplate(m.subject);
    const span = this.tracer.startSpan(`process ${t}`, {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': this.system, 'messaging.operation.type': 'process', 'messaging.destination.name': m.subject,
        'messaging.destination.template': t, 'messaging.message.body.size': m.data.byteLength,
      },
    }, parent);
    runInSpan(parent, span, () => handler(m));
  }

  respond(to: BusMessage, data: Uint8Array, headers?: Headers): void {
    this.inner.respond(to, data, headers);
  }

  flush(): Promise<void> { return this.inner.flush(); }
  close(): Promise<void> { return this.inner.close(); }
}

/**
 * Wraps `bus` so trace context crosses it (see TracedBus); returns `bus`
 * itself when tracing is off. `system` is the messaging.system attribute
 * ("nats", or "memory" in standalone mode).
 */
export function traceBus(bus: Bus, component: string, system: string): Bus {
  return tracingEnabled() ? new TracedBus(bus, trace.getTracer(component), system) : bus;
}
