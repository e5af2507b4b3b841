import type { Readable } from 'node:stream';
import type { Deployment, ProviderName } from '../config/deployment';

/** What an adapter needs to put one copy of a file on one deployment. */
export interface UploadRequest {
  readonly purpose: string;
  /** Upstream filename: carries the upload's tag so a copy whose id we never saw can be found. */
  readonly filename: string;
  readonly mimeType: string;
  readonly expiresAfterSeconds: number | null;
  /** A fresh stream of the file's bytes; called once per attempt. */
  readonly openBody: () => Readable;
}

/** The provider's file object, reduced to what the gateway uses. */
export interface ProviderFile {
  readonly id: string;
  readonly filename: string;
  readonly purpose: string;
  readonly bytes: number | null;
  readonly createdAt: number;
  /** Unix seconds when the upstream will drop the copy; null when it did not say. */
  readonly expiresAt: number | null;
}

export interface ProviderFilePage {
  readonly data: readonly ProviderFile[];
  readonly hasMore: boolean;
}

export interface ProviderContent {
  readonly contentType: string;
  readonly contentLength: string | null;
  readonly body: Readable;
}

/**
 * The one interface behind which every upstream dialect lives. Adapters are the only code that
 * knows upstream URLs, headers, payloads and error shapes; they throw ProviderError, never raw
 * transport errors.
 */
export interface ProviderClient {
  uploadFile(
    deployment: Deployment,
    upload: UploadRequest,
    signal?: AbortSignal,
  ): Promise<ProviderFile>;
  /** Resolves when the file is gone, including when the upstream says it never existed. */
  deleteFile(deployment: Deployment, providerFileId: string): Promise<void>;
  fileContent(
    deployment: Deployment,
    providerFileId: string,
    signal?: AbortSignal,
  ): Promise<ProviderContent>;
  listFiles(deployment: Deployment, after: string | null): Promise<ProviderFilePage>;
}

/** Adapters by provider name, injected into ProviderRouterService. */
export const PROVIDER_CLIENTS = Symbol('PROVIDER_CLIENTS');
export type ProviderClients = Readonly<Record<ProviderName, ProviderClient>>;

/** ProviderError.code of a call the gateway itself abandoned. */
export const ABORTED = 'aborted';

/** An upstream call failed. `status` is null when no HTTP answer arrived (network, timeout). */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly code: string | null,
    readonly timedOut = false,
    /**
     * For an upload: false only when the request body was certainly not sent whole, so the
     * upstream cannot have stored the file. Unknown counts as sent.
     */
    readonly requestComplete = true,
  ) {
    super(message);
    this.name = 'ProviderError';
  }

  /** Worth one more try: no answer, a timeout, a 429 or a 5xx. A 4xx would fail the same way. */
  get retryable(): boolean {
    return this.status === null || this.status === 408 || this.status === 429 || this.status >= 500;
  }

  /** No answer came back after the whole request went out: the upstream may have acted on it. */
  get outcomeUnknown(): boolean {
    return this.status === null && this.requestComplete;
  }

  /**
   * No answer because we stopped waiting (timeout, abort) while the upstream may still be
   * working on the request: a search right now can miss a copy stored a moment later.
   */
  get mayStillLand(): boolean {
    return this.outcomeUnknown && (this.timedOut || this.code === ABORTED);
  }

  get notFound(): boolean {
    return this.status === 404;
  }
}
