import { createRequire } from 'node:module';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  type OpenTelemetrySinks,
} from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptorsFactory, InjectedSinks, WorkerOptions } from '@temporalio/worker';

/**
 * The workflow side of the tracing (spans of workflow runs, of the activities and children they start,
 * and the trace context their headers carry): it runs in the workflow sandbox, so it goes into the
 * workflow bundle (bundleWorkflowCode's workflowInterceptorModules) rather than into the worker options.
 */
export const tracingWorkflowModules = [
  createRequire(import.meta.url).resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'),
];

/** Spans over OTLP/HTTP: the worker-side interceptors and the sink the workflow side exports through. */
export interface WorkerTracing {
  activity: ActivityInterceptorsFactory[];
  sinks: InjectedSinks<OpenTelemetrySinks>;
  /** Exports the spans still batched; the worker calls it once it has stopped. */
  shutdown(): Promise<void>;
}

/** Tracing is on when an OTLP endpoint is set (the OpenTelemetry SDK's own variables), off otherwise. */
export const tracingEnabled = (env: NodeJS.ProcessEnv = process.env) =>
  Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);

/**
 * Workflow and activity spans, sent to OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces, as JSON; the exporter also
 * reads OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS for a collector's credentials).
 * Their attributes are the SDK's ids (workflow, run, activity), never an argument or a result: payloads
 * and the keys they name stay out of the traces.
 */
export function workerTracing(env: NodeJS.ProcessEnv = process.env): WorkerTracing | undefined {
  if (!tracingEnabled(env)) return undefined;
  const resource = Resource.default().merge(
    new Resource({ 'service.name': env.OTEL_SERVICE_NAME || 'evolve-worker' }),
  );
  const processor = new BatchSpanProcessor(new OTLPTraceExporter());
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  // Global, as the activity interceptor reads the workflow's trace context from the headers through the
  // global propagator (W3C trace context unless OTEL_PROPAGATORS says otherwise) and makes it the active
  // context, which needs a context manager: one provider a worker process.
  provider.register({ contextManager: new AsyncLocalStorageContextManager().enable() });
  const tracer = provider.getTracer('evolve');
  return {
    activity: [
      (ctx) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
    ],
    sinks: { exporter: makeWorkflowExporter(processor, resource) },
    shutdown: () => processor.shutdown(),
  };
}

/** Worker options with tracing's interceptors and sink added to theirs (unchanged without tracing). */
export function withTracing<T extends Partial<WorkerOptions>>(options: T, tracing?: WorkerTracing): T {
  if (!tracing) return options;
  return {
    ...options,
    interceptors: {
      ...options.interceptors,
      activity: [...(options.interceptors?.activity ?? []), ...tracing.activity],
    },
    sinks: { ...options.sinks, ...tracing.sinks },
  };
}
