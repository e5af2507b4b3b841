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

/**
 * Deployments where an attempt ended without an answer (connection lost, timeout, aborted): the
 * upstream may have stored a copy whose id we never saw. On success these may hold a duplicate
 * beside the copy kept; on failure, a copy. Either way they must be searched by the upload's tag.
 */
interface Unanswered {
  readonly unanswered: readonly UnansweredCopy[];
}

export interface UnansweredCopy {
  readonly deployment: Deployment;
  /**
   * True when we stopped waiting (timeout, abort) while the upstream may still be working on
   * the request: a search right now can miss a copy stored a moment later. False when the
   * upstream closed the connection itself: whatever it stored is already there.
   */
  readonly mayStillLand: boolean;
}

export type FanOutResult =
  | ({ readonly ok: true; readonly copies: readonly PlacedCopy[] } & Unanswered)
  | ({
      readonly ok: false;
      /** The first deployment that failed for good, and why. */
      readonly failedDeployment: Deployment | null;
      readonly error: Error;
      /** Copies that succeeded but could not be removed again: someone must retry later. */
      readonly leftOver: readonly PlacedCopy[];
    } & Unanswered);

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
  if (signal.aborted) {
    // Nothing started; an already-aborted signal would never fire 'abort' either.
    return {
      ok: false,
      failedDeployment: null,
      error: abortReason(signal),
      leftOver: [],
      unanswered: [],
    };
  }
  signal.addEventListener('abort', onOuterAbort, { once: true });
  let firstFailure: { deployment: Deployment | null; error: Error } | null = null;
  const unanswered = new Map<Deployment, UnansweredCopy>();

  const attempts = targets.map(async ({ deployment, client }): Promise<PlacedCopy> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const file = await client.uploadFile(deployment, upload(deployment), abort.signal);
        return { deployment, file };
      } catch (error) {
        if (!(error instanceof ProviderError) || error.outcomeUnknown) {
          // A non-ProviderError is a bug in the client: assume the worst.
          const mayStillLand = !(error instanceof ProviderError) || error.mayStillLand;
          unanswered.set(deployment, {
            deployment,
            mayStillLand: mayStillLand || unanswered.get(deployment)?.mayStillLand === true,
          });
        }
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
    return { ok: true, copies: placed, unanswered: [...unanswered.values()] };
  }
  const leftOver = await deleteAll(placed, targets);
  return {
    ok: false,
    failedDeployment: failure.deployment,
    error: failure.error,
    leftOver,
    unanswered: [...unanswered.values()],
  };
}

/** A copy known only by its provider id (from the store, or found upstream by its tag). */
export function copyOf(deployment: Deployment, providerFileId: string): PlacedCopy {
  return {
    deployment,
    file: {
      id: providerFileId,
      filename: '',
      purpose: '',
      bytes: null,
      createdAt: 0,
      expiresAt: null,
    },
  };
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
