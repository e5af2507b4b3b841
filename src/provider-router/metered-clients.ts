import { performance } from 'node:perf_hooks';
import type { MetricsService } from '../observability/metrics.service';
import { noteUpstreamCall } from '../observability/request-store';
import type { Deployment, ProviderName } from '../config/deployment';
import {
  ABORTED,
  ProviderError,
  type ProviderClient,
  type ProviderClients,
} from './provider-client';

/**
 * The adapters, each call timed and counted by deployment, operation (the SDK's name for it)
 * and outcome, and noted for the access line of the request it serves. Every upstream call
 * goes through the router's clients, so this one wrapper sees them all: model calls and their
 * failover, upload fan-outs, deletes, listings and content downloads. For a streamed reply the
 * time is to its headers, when the call resolves.
 */
export function meteredClients(clients: ProviderClients, metrics: MetricsService): ProviderClients {
  const wrap = (client: ProviderClient): ProviderClient => {
    const timed = async <R>(
      deployment: Deployment,
      operation: string,
      call: () => Promise<R>,
    ): Promise<R> => {
      const started = performance.now();
      let outcome = 'ok';
      try {
        return await call();
      } catch (error) {
        outcome = outcomeOf(error);
        throw error;
      } finally {
        const ms = performance.now() - started;
        metrics.upstreamCall(deployment.id, operation, outcome, ms / 1000);
        noteUpstreamCall({
          deployment: deployment.id,
          operation,
          outcome,
          ms: Math.round(ms * 10) / 10,
        });
      }
    };
    return {
      uploadFile: (deployment, upload, signal) =>
        timed(deployment, 'files.create', async () => {
          const file = await client.uploadFile(deployment, upload, signal);
          // The size the upstream stored: batch copies are rewritten per deployment, so each
          // copy's own size rather than the upload's.
          if (file.bytes !== null) metrics.uploadedBytes(deployment.id, file.bytes);
          return file;
        }),
      deleteFile: (deployment, id) =>
        timed(deployment, 'files.delete', () => client.deleteFile(deployment, id)),
      fileContent: (deployment, id, signal) =>
        timed(deployment, 'files.content', () => client.fileContent(deployment, id, signal)),
      listFiles: (deployment, after) =>
        timed(deployment, 'files.list', () => client.listFiles(deployment, after)),
      call: (deployment, request, signal) =>
        timed(deployment, request.operation, () => client.call(deployment, request, signal)),
    };
  };
  const names = Object.keys(clients) as ProviderName[];
  return Object.fromEntries(names.map((name) => [name, wrap(clients[name])])) as Record<
    ProviderName,
    ProviderClient
  >;
}

/** A bounded label: what kind of failure, never the upstream's message. */
function outcomeOf(error: unknown): string {
  if (!(error instanceof ProviderError)) return 'error';
  if (error.code === ABORTED) return 'aborted';
  if (error.timedOut) return 'timeout';
  if (error.status === null) return 'no_answer';
  return error.status === 429 ? '429' : `${Math.floor(error.status / 100)}xx`;
}
