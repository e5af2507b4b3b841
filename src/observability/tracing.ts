import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { format } from 'node:util';
import type * as NestCommon from '@nestjs/common';
import type * as OtelExpress from '@opentelemetry/instrumentation-express';
import type * as OtelHttp from '@opentelemetry/instrumentation-http';
import type * as OtelPg from '@opentelemetry/instrumentation-pg';
import type * as OtelUndici from '@opentelemetry/instrumentation-undici';
import type * as OtelSdk from '@opentelemetry/sdk-node';

/** What an operator's OTEL_* variables say; read before the app's own config exists. */
export type OtelEnv = Readonly<Record<string, string | undefined>>;

/** service.name unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise. */
export const DEFAULT_SERVICE_NAME = 'managed-files-gateway';

/**
 * Probes and scrapes arrive every few seconds from orchestrators and Prometheus: as traces they
 * would drown the requests an operator looks for, and say nothing /health/ready does not.
 */
const UNTRACED_PATHS = /^\/(?:health\/|metrics(?:[/?]|$))/;

/**
 * Tracing is on when the usual OTel variables ask for an exporter: an OTLP endpoint (all
 * signals or traces alone), or OTEL_TRACES_EXPORTER naming one (`console`, or `otlp` to the
 * spec's default localhost:4318). OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none win.
 * Anything else — the default — loads nothing: no SDK, no patched modules, no cost.
 */
export function tracesRequested(env: OtelEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
  if (exporters.includes('none')) return false;
  const endpoint =
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return Boolean(endpoint) || exporters.length > 0;
}

/** A started SDK; `shutdown` exports what is still queued, then stops. */
export interface Tracing {
  shutdown(): Promise<void>;
}

let active: Tracing | null = null;

/**
 * Starts the OpenTelemetry SDK when `env` asks for traces, once per process. It must run before
 * the modules it instruments are first required (http, express, pg): main.ts imports
 * start-tracing.ts first. undici is traced through its diagnostics channels, whatever the load
 * order. Exporter, protocol, endpoint, headers, sampler and resource come from the standard
 * OTEL_* variables, which the SDK reads itself.
 */
export function startTracing(env: OtelEnv): Tracing | null {
  if (active || !tracesRequested(env)) return active;
  // Required here, not imported: with tracing off none of this is ever loaded.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const sdk = require('@opentelemetry/sdk-node') as typeof OtelSdk;
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof OtelHttp;
  const { ExpressInstrumentation, ExpressLayerType } =
    require('@opentelemetry/instrumentation-express') as typeof OtelExpress;
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof OtelPg;
  const { UndiciInstrumentation } =
    require('@opentelemetry/instrumentation-undici') as typeof OtelUndici;
  /* eslint-enable @typescript-eslint/no-require-imports */

  if (!env.OTEL_LOG_LEVEL) reportThroughAppLogger(sdk);

  const nodeSdk = new sdk.NodeSDK({
    // Merged under the env detector's attributes, so OTEL_SERVICE_NAME still wins.
    resource: sdk.resources
      .defaultResource()
      .merge(sdk.resources.resourceFromAttributes({ 'service.name': DEFAULT_SERVICE_NAME })),
    // Traces only: metrics are /metrics (prom-client) and logs are stdout; the SDK would
    // otherwise start OTLP metric and log exporters to the same endpoint by default.
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req: IncomingMessage) => UNTRACED_PATHS.test(req.url ?? ''),
        // The id every access-log line carries: from a trace to its logs in one search. No other
        // header is recorded (requests carry API keys).
        headersToSpanAttributes: { server: { responseHeaders: ['x-request-id'] } },
      }),
      // Only for the route template (`/v1/files/:file_id`) on the server span; a span per
      // middleware would cost more than it tells.
      new ExpressInstrumentation({
        ignoreLayersType: [
          ExpressLayerType.MIDDLEWARE,
          ExpressLayerType.ROUTER,
          ExpressLayerType.REQUEST_HANDLER,
        ],
      }),
      // The upstream calls: undici's `request` through the gateway's Agent. It injects
      // `traceparent`, so a provider that traces joins the same trace.
      new UndiciInstrumentation(),
      // Queries inside a request only: the job engine polls PostgreSQL every few seconds, and
      // each poll as a trace of its own would be noise. SQL text only, never parameter values.
      new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false }),
    ],
  });
  nodeSdk.start();
  preloadExpress();
  active = { shutdown: () => nodeSdk.shutdown() };
  return active;
}

/**
 * Without a diagnostic logger the SDK drops its own errors silently: an endpoint that cannot be
 * reached would look like a quiet service. Warnings and errors (a failed export, a full queue)
 * go to the app's log instead, in its format. OTEL_LOG_LEVEL, when set, is the SDK's to honour
 * (it then writes to the console itself).
 */
function reportThroughAppLogger(sdk: typeof OtelSdk): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Logger } = require('@nestjs/common') as typeof NestCommon;
  const logger = new Logger('OpenTelemetry');
  const line = (message: string, args: unknown[]): string => format(message, ...args);
  // Failed exports reach the SDK's global error handler as Error objects, which its default
  // handler would log as a JSON dump of every property, stack included: one line says it.
  sdk.core.setGlobalErrorHandler((error) => {
    const message = typeof error === 'string' ? error : (error.message ?? error.name ?? 'unknown');
    logger.error(`spans may be lost: ${message}`);
  });
  sdk.api.diag.setLogger(
    {
      error: (message, ...args) => logger.error(line(message, args)),
      warn: (message, ...args) => logger.warn(line(message, args)),
      info: (message, ...args) => logger.log(line(message, args)),
      debug: (message, ...args) => logger.debug(line(message, args)),
      verbose: (message, ...args) => logger.verbose(line(message, args)),
    },
    { logLevel: sdk.api.DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
}

/**
 * Nest 12 is ES modules, and its Express adapter's `import express from 'express'` goes through
 * the ESM loader, which require-in-the-middle (how instrumentations patch CommonJS packages)
 * never sees. Express itself is CommonJS: required here first, it is patched in place, and the
 * adapter's import is then served the same, patched, module from the CommonJS cache. Resolved
 * from the adapter, so it is the copy the adapter would load.
 */
function preloadExpress(): void {
  createRequire(require.resolve('@nestjs/platform-express'))('express');
}

/** Exports the spans still queued and stops the SDK; nothing when tracing is off. */
export async function stopTracing(): Promise<void> {
  const tracing = active;
  active = null;
  await tracing?.shutdown();
}
