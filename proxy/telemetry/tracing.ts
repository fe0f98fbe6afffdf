// OpenTelemetry tracing. The SDK is configured by the standard OTEL_* variables (exporter,
// endpoint, sampler, service name); with `telemetry.tracing: false` nothing here runs per request.
import { context, propagation, trace, SpanKind, SpanStatusCode, ROOT_CONTEXT } from '@opentelemetry/api';
import type { Span, Tracer, Context } from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';

let sdk: { shutdown(): Promise<void> } | null = null;
let tracer: Tracer | null = null;

export async function startTracing(): Promise<void> {
  if (sdk !== null) return;
  process.env['OTEL_SERVICE_NAME'] ??= 'outrider';
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  // No auto-instrumentation: Outrider makes its own server and client spans, one per request and attempt.
  const s = new NodeSDK({ instrumentations: [] });
  s.start();
  sdk = s;
  tracer = trace.getTracer('outrider');
}

export async function stopTracing(): Promise<void> {
  const s = sdk;
  sdk = null;
  tracer = null;
  if (s !== null) await s.shutdown().catch(() => undefined);
}

export function tracingActive(): boolean {
  return tracer !== null;
}

const getter = {
  keys: (carrier: IncomingHttpHeaders) => Object.keys(carrier),
  get: (carrier: IncomingHttpHeaders, key: string) => carrier[key],
};

/** A server span whose parent is the incoming W3C trace context, if any. */
export function startServerSpan(name: string, headers: IncomingHttpHeaders, attributes: Record<string, string | number>): Span | null {
  if (tracer === null) return null;
  const parent = propagation.extract(ROOT_CONTEXT, headers, getter);
  return tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
}

export interface ClientSpan {
  readonly span: Span;
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
}

/** A client span for one upstream attempt and the trace headers that carry it upstream. */
export function startClientSpan(parent: Span, name: string, attributes: Record<string, string | number>): ClientSpan | null {
  if (tracer === null) return null;
  const parentCtx: Context = trace.setSpan(context.active(), parent);
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, parentCtx);
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(parentCtx, span), carrier);
  return { span, traceparent: carrier['traceparent'], tracestate: carrier['tracestate'] };
}

export function endSpan(span: Span, status: number, error: string | null): void {
  span.setAttribute('http.response.status_code', status);
  if (error !== null) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
  span.end();
}
