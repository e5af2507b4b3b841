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
  /**
   * Takes back a chunk of an `openBody()` stream once the adapter has written it out, so its
   * memory can carry a later chunk (SpoolFile.giveBack). Optional: without it chunks are simply
   * garbage-collected.
   */
  readonly giveBack?: (chunk: Buffer) => void;
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

/** A JSON request body, passed to the upstream as given (the caller has set its `model`). */
export type JsonObject = Readonly<Record<string, unknown>>;

/**
 * The model calls an adapter can make, named after the OpenAI SDK methods, with what each needs.
 * Callers name an operation, never a path: only adapters know where it lives in each dialect.
 * Adding one (batches.create, fine_tuning.jobs.retrieve…) is an entry here and its route in
 * adapters/operation-routes.ts; the compiler points at both.
 */
export interface ProviderOperations {
  'chat.completions': { readonly body: JsonObject };
  'responses.create': { readonly body: JsonObject };
  /** `query` is passed through (`include[]`, `stream`, `starting_after`). */
  'responses.retrieve': { readonly id: string; readonly query?: URLSearchParams };
  'responses.delete': { readonly id: string };
  /** `query` is passed through (`after`, `limit`, `order`, `include[]`). */
  'responses.input_items': { readonly id: string; readonly query?: URLSearchParams };
  'responses.cancel': { readonly id: string };
  'files.retrieve': { readonly id: string };
  // https://platform.openai.com/docs/api-reference/batch
  'batches.create': { readonly body: JsonObject };
  'batches.retrieve': { readonly id: string };
  'batches.cancel': { readonly id: string };
  // https://platform.openai.com/docs/api-reference/fine-tuning
  'fine_tuning.jobs.create': { readonly body: JsonObject };
  'fine_tuning.jobs.retrieve': { readonly id: string };
  'fine_tuning.jobs.cancel': { readonly id: string };
  'fine_tuning.jobs.pause': { readonly id: string };
  'fine_tuning.jobs.resume': { readonly id: string };
  /** `query` is passed through (`after`, `limit`). */
  'fine_tuning.jobs.list_events': { readonly id: string; readonly query?: URLSearchParams };
  /** `query` is passed through (`after`, `limit`). */
  'fine_tuning.jobs.checkpoints.list': { readonly id: string; readonly query?: URLSearchParams };
}

export type ProviderOperation = keyof ProviderOperations;

/** One call of operation K; ids are the deployment's own (provider-local) ids. */
export type CallOf<K extends ProviderOperation> = { readonly operation: K } & ProviderOperations[K];

export type ProviderCall = { [K in ProviderOperation]: CallOf<K> }[ProviderOperation];

/** Upstream response headers worth passing on; never anything that could carry a credential. */
export interface UpstreamHeaders {
  /** The upstream's request id (`x-request-id`; Azure's `apim-request-id`), for support. */
  readonly requestId: string | null;
  /** `retry-after` as sent: seconds or an HTTP date. */
  readonly retryAfter: string | null;
  readonly retryAfterMs: string | null;
  readonly processingMs: string | null;
}

/**
 * A 2xx answer. JSON bodies are parsed (null when empty); an event stream (or any other
 * non-JSON body) is handed over unread, so each chunk can reach the client as it arrives. The
 * caller must consume or destroy a stream body: it holds a pooled connection until then.
 */
export type ProviderReply =
  | {
      readonly kind: 'json';
      readonly status: number;
      readonly body: unknown;
      /**
       * `body` as JSON text: the upstream's own bytes when the adapter did not change the
       * object (a reply relayed unchanged is not serialised again), else `body` serialised.
       */
      readonly text: string;
      readonly headers: UpstreamHeaders;
    }
  | {
      readonly kind: 'stream';
      readonly status: number;
      readonly contentType: string;
      readonly body: Readable;
      readonly headers: UpstreamHeaders;
    };

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
  /**
   * One model call on the deployment. Any non-2xx answer, no answer, or an abort through
   * `signal` (which also closes the upstream request, mid-stream included) is a ProviderError.
   */
  call(deployment: Deployment, request: ProviderCall, signal?: AbortSignal): Promise<ProviderReply>;
}

/** Adapters by provider name, injected into ProviderRouterService. */
export const PROVIDER_CLIENTS = Symbol('PROVIDER_CLIENTS');
export type ProviderClients = Readonly<Record<ProviderName, ProviderClient>>;

/** ProviderError.code of a call the gateway itself abandoned. */
export const ABORTED = 'aborted';

/** What an upstream error said beyond status and code, and where it came from. */
export interface ProviderErrorDetails {
  /** The upstream's error `type` (OpenAI); Azure's bodies have none. */
  readonly type?: string | null;
  readonly param?: string | null;
  /** The upstream's `retry-after` header as sent (a 429 or 503 says when to come back). */
  readonly retryAfter?: string | null;
  /** The upstream's request id, for support tickets. */
  readonly requestId?: string | null;
  /** The deployment that failed, so callers that tried several can name it. */
  readonly deploymentId?: string | null;
}

/** An upstream call failed. `status` is null when no HTTP answer arrived (network, timeout). */
export class ProviderError extends Error {
  readonly type: string | null;
  readonly param: string | null;
  readonly retryAfter: string | null;
  readonly requestId: string | null;
  readonly deploymentId: string | null;

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
    details: ProviderErrorDetails = {},
  ) {
    super(message);
    this.name = 'ProviderError';
    this.type = details.type ?? null;
    this.param = details.param ?? null;
    this.retryAfter = details.retryAfter ?? null;
    this.requestId = details.requestId ?? null;
    this.deploymentId = details.deploymentId ?? null;
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

  /** The gateway stopped waiting (caller abort), which says nothing about the deployment. */
  get aborted(): boolean {
    return this.status === null && this.code === ABORTED;
  }
}
