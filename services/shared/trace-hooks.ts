/**
 * The tracing hooks core code calls. Dependency-free on purpose: gateway and
 * router cores import this interface, never OpenTelemetry. The OTel-backed
 * implementation lives in tracing.ts and is injected by the composition
 * roots; the default is `NO_TRACING`, whose cost is one property read
 * (callers on hot paths test `enabled` before building a closure).
 */

export type TraceAttrs = Record<string, string | number | boolean>;

export type TraceSpanKind = 'internal' | 'server' | 'client' | 'producer' | 'consumer';

/** What code running inside a span may do with it. */
export interface TraceSpan {
  setAttributes(attrs: TraceAttrs): void;
  /** Marks the span as failed (status ERROR) with a short description. */
  fail(message: string): void;
}

export interface TraceSpanOptions {
  kind?: TraceSpanKind;
  attrs?: TraceAttrs;
  /**
   * Continue the trace found in these headers (W3C `traceparent`), e.g. an
   * incoming HTTP request's, instead of the active context.
   */
  carrier?: Readonly<Record<string, string | string[] | undefined>>;
  /** Only record when a span is already active (no new root traces from hot paths); otherwise fn just runs. */
  childOnly?: boolean;
}

export interface TraceHooks {
  /** False for NO_TRACING: callers may skip building span arguments. */
  readonly enabled: boolean;
  /**
   * Runs `fn` inside a new span that is the active context for everything
   * `fn` starts (sync calls and async continuations alike). The span ends
   * when `fn` returns or, if it returns a promise, when that settles; a throw
   * or rejection marks it failed and is passed on unchanged.
   */
  span<T>(name: string, opts: TraceSpanOptions, fn: (span: TraceSpan) => T): T;
}

const NOOP_SPAN: TraceSpan = { setAttributes: () => undefined, fail: () => undefined };

export const NO_TRACING: TraceHooks = Object.freeze({
  enabled: false,
  span: <T>(_name: string, _opts: TraceSpanOptions, fn: (span: TraceSpan) => T): T => fn(NOOP_SPAN),
});
