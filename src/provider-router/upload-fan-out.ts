import type { Deployment } from '../config/deployment';
import {
  ProviderError,
  type ProviderClient,
  type ProviderFile,
  type UploadRequest,
} from './provider-client';

export interface CopyTarget {
  readonly deployment: Deployment;
  readonly client: ProviderClient;
}

export interface PlacedCopy {
  readonly deployment: Deployment;
  readonly file: ProviderFile;
}

export type FanOutResult =
  | { readonly ok: true; readonly copies: readonly PlacedCopy[] }
  | {
      readonly ok: false;
      /** The first deployment that failed for good, and why. */
      readonly failedDeployment: Deployment | null;
      readonly error: Error;
      /** Copies that succeeded but could not be removed again: someone must retry later. */
      readonly leftOver: readonly PlacedCopy[];
    };

/**
 * All or nothing: every target gets a copy concurrently; a copy that fails is tried once more
 * (from the start of the spooled bytes); when one fails for good the others are aborted and the
 * copies already made are deleted, so no upstream keeps a file the gateway does not know about.
 * `signal` aborts everything (the client went away, or its body was refused mid-way).
 */
export async function uploadToAll(
  targets: readonly CopyTarget[],
  upload: (deployment: Deployment) => UploadRequest,
  signal: AbortSignal,
  maxAttempts = 2,
): Promise<FanOutResult> {
  const abort = new AbortController();
  const onOuterAbort = (): void => abort.abort(signal.reason);
  signal.addEventListener('abort', onOuterAbort, { once: true });
  let firstFailure: { deployment: Deployment | null; error: Error } | null = null;

  const attempts = targets.map(async ({ deployment, client }): Promise<PlacedCopy> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const file = await client.uploadFile(deployment, upload(deployment), abort.signal);
        return { deployment, file };
      } catch (error) {
        const retry =
          attempt < maxAttempts &&
          !abort.signal.aborted &&
          error instanceof ProviderError &&
          error.retryable;
        if (!retry) {
          if (!firstFailure) {
            firstFailure = abort.signal.aborted
              ? { deployment: null, error: abortReason(abort.signal) }
              : { deployment, error: asError(error) };
          }
          abort.abort(firstFailure.error);
          throw error;
        }
      }
    }
  });

  const settled = await Promise.allSettled(attempts);
  signal.removeEventListener('abort', onOuterAbort);
  const placed = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failure = firstFailure as { deployment: Deployment | null; error: Error } | null;
  if (!failure) {
    return { ok: true, copies: placed };
  }
  const leftOver = await deleteAll(placed, targets);
  return { ok: false, failedDeployment: failure.deployment, error: failure.error, leftOver };
}

/** Deletes copies concurrently; returns the ones that could not be deleted. */
export async function deleteAll(
  copies: readonly PlacedCopy[],
  targets: readonly CopyTarget[],
): Promise<PlacedCopy[]> {
  const clientOf = new Map(targets.map((t) => [t.deployment.id, t.client]));
  const results = await Promise.allSettled(
    copies.map(async (copy) => {
      const client = clientOf.get(copy.deployment.id);
      if (!client) throw new Error(`no client for deployment ${copy.deployment.id}`);
      await client.deleteFile(copy.deployment, copy.file.id);
    }),
  );
  return copies.filter((_, i) => results[i].status === 'rejected');
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('upload aborted');
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
