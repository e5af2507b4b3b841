import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Agent, errors as undiciErrors, request, type Dispatcher } from 'undici';
import type { Deployment } from '../../config/deployment';
import {
  ABORTED,
  ProviderError,
  type ProviderCall,
  type ProviderClient,
  type ProviderContent,
  type ProviderFile,
  type ProviderFilePage,
  type ProviderOperation,
  type ProviderReply,
  type UpstreamHeaders,
  type UploadRequest,
} from '../provider-client';
import { streamingMultipart } from '../multipart-body';
import { resolveOperation, type HttpMethod, type ResolvedOperation } from './operation-routes';

type Method = HttpMethod;

/** What an adapter reads out of its dialect's error body. */
export interface ParsedUpstreamError {
  readonly message: string | null;
  readonly code: string | null;
  readonly type: string | null;
  readonly param: string | null;
}

export interface HttpAdapterOptions {
  /** Idle bound on every upstream call: headers, and the gap between body chunks. */
  readonly timeoutMs: number;
  /** Shared keep-alive pool; one per process. */
  readonly dispatcher: Dispatcher;
}

export function createUpstreamPool(timeoutMs: number): Agent {
  return new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: 10_000,
  });
}

const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** What one upstream call sends besides method and URL. */
interface SendInit {
  headers?: Record<string, string>;
  /** An upload's multipart body is an async iterable (see StreamingMultipart.body). */
  body?: Readable | AsyncIterable<Buffer> | string;
  signal?: AbortSignal;
}

/**
 * Everything the OpenAI and Azure dialects share: transport, timeouts, streaming multipart,
 * JSON handling and error mapping. Subclasses say only where things live and how they differ.
 */
export abstract class HttpProviderAdapter implements ProviderClient {
  constructor(protected readonly options: HttpAdapterOptions) {}

  /** Absolute URL of `path` (e.g. `/files/abc`) on the deployment. */
  protected abstract url(deployment: Deployment, path: string, query?: URLSearchParams): string;
  /** Absolute URL of a model call; dialects that route by deployment override it. */
  protected operationUrl(deployment: Deployment, operation: ResolvedOperation): string {
    return this.url(deployment, operation.path, operation.query);
  }
  protected abstract authHeaders(deployment: Deployment): Record<string, string>;
  /** Multipart fields other than the file, in the dialect's spelling. */
  protected abstract uploadFields(upload: UploadRequest): Array<readonly [string, string]>;
  /** Reads message, code, type and param out of the dialect's error body. */
  protected abstract parseError(body: unknown): ParsedUpstreamError;

  /** The upstream's request id header; dialects with another name override it. */
  /**
   * A JSON answer in OpenAI's shape, for dialects whose objects differ (Azure's fine-tuning
   * statuses and field names). OpenAI's answers are already.
   */
  protected normaliseReply(_operation: ProviderOperation, body: unknown): unknown {
    return body;
  }

  protected requestId(headers: IncomingHttpHeaders): string | null {
    return headerValue(headers['x-request-id']) ?? null;
  }

  async uploadFile(
    deployment: Deployment,
    upload: UploadRequest,
    signal?: AbortSignal,
  ): Promise<ProviderFile> {
    const multipart = streamingMultipart(this.uploadFields(upload), {
      field: 'file',
      filename: upload.filename,
      contentType: upload.mimeType,
      body: upload.openBody(),
      giveBack: upload.giveBack,
    });
    let body: unknown;
    try {
      body = await this.callJson(deployment, 'POST', this.url(deployment, '/files'), {
        headers: { 'content-type': multipart.contentType },
        body: multipart.body,
        signal,
      });
    } catch (error) {
      // undici rejects an aborted call with the signal's reason, which may itself be another
      // deployment's ProviderError (that status is not this upstream's answer), or a plain
      // Error that `send` wrapped as a connection error. Either way, we stopped waiting.
      const aborted =
        signal?.aborted === true &&
        (error === signal.reason || (error instanceof ProviderError && error.status === null));
      if (error instanceof ProviderError && error.status !== null && !aborted) {
        throw error;
      }
      const cause = error instanceof ProviderError && !aborted ? error : null;
      // Whether the whole body went out tells if the upstream may have stored the file.
      throw new ProviderError(
        cause?.message ?? 'aborted before the upstream answered',
        null,
        cause?.code ?? ABORTED,
        cause?.timedOut ?? false,
        multipart.complete(),
      );
    }
    return toProviderFile(body);
  }

  async deleteFile(deployment: Deployment, providerFileId: string): Promise<void> {
    try {
      await this.callJson(
        deployment,
        'DELETE',
        this.url(deployment, `/files/${encodeURIComponent(providerFileId)}`),
        { signal: AbortSignal.timeout(this.options.timeoutMs) },
      );
    } catch (error) {
      if (error instanceof ProviderError && error.notFound) {
        return;
      }
      throw error;
    }
  }

  async fileContent(
    deployment: Deployment,
    providerFileId: string,
    signal?: AbortSignal,
  ): Promise<ProviderContent> {
    const url = this.url(deployment, `/files/${encodeURIComponent(providerFileId)}/content`);
    const response = await this.send(deployment, 'GET', url, { signal });
    if (response.statusCode >= 400) {
      throw await this.errorFrom(deployment, response);
    }
    return {
      contentType: headerValue(response.headers['content-type']) ?? 'application/octet-stream',
      contentLength: headerValue(response.headers['content-length']) ?? null,
      body: response.body,
    };
  }

  async listFiles(deployment: Deployment, after: string | null): Promise<ProviderFilePage> {
    const query = new URLSearchParams({ limit: '10000', order: 'asc' });
    if (after) {
      query.set('after', after);
    }
    const body = await this.callJson(deployment, 'GET', this.url(deployment, '/files', query), {
      signal: AbortSignal.timeout(this.options.timeoutMs),
    });
    const record = asRecord(body);
    const data = Array.isArray(record.data) ? record.data.map(toProviderFile) : [];
    return { data, hasMore: record.has_more === true };
  }

  async call(
    deployment: Deployment,
    request: ProviderCall,
    signal?: AbortSignal,
  ): Promise<ProviderReply> {
    const operation = resolveOperation(request);
    const json = operation.body === undefined ? undefined : JSON.stringify(operation.body);
    try {
      const response = await this.send(
        deployment,
        operation.method,
        this.operationUrl(deployment, operation),
        {
          headers: json === undefined ? {} : { 'content-type': 'application/json' },
          body: json,
          signal,
        },
      );
      // Redirects and 1xx are not answers a model call can use; undici does not follow them.
      if (response.statusCode < 200 || response.statusCode >= 300) {
        throw await this.errorFrom(deployment, response);
      }
      return await this.replyOf(deployment, request.operation, response);
    } catch (error) {
      throw this.callError(deployment, error, signal);
    }
  }

  /** JSON is read whole (it is small and callers rewrite it); anything else is handed on unread. */
  private async replyOf(
    deployment: Deployment,
    operation: ProviderOperation,
    response: Dispatcher.ResponseData,
  ): Promise<ProviderReply> {
    const headers = this.upstreamHeaders(response.headers);
    const contentType = headerValue(response.headers['content-type']) ?? '';
    const empty =
      response.statusCode === 204 || headerValue(response.headers['content-length']) === '0';
    if (empty || isJsonMediaType(contentType)) {
      let text = await response.body.text();
      let body: unknown = null;
      if (text.trim() === '') {
        text = 'null';
      } else {
        try {
          const parsed = JSON.parse(text) as unknown;
          body = this.normaliseReply(operation, parsed);
          if (body !== parsed) text = JSON.stringify(body);
        } catch {
          throw new ProviderError(
            'upstream answered with malformed JSON',
            502,
            'bad_upstream_response',
            false,
            true,
            { requestId: headers.requestId, deploymentId: deployment.id },
          );
        }
      }
      return { kind: 'json', status: response.statusCode, body, text, headers };
    }
    return {
      kind: 'stream',
      status: response.statusCode,
      contentType: contentType || 'application/octet-stream',
      body: response.body,
      headers,
    };
  }

  private upstreamHeaders(headers: IncomingHttpHeaders): UpstreamHeaders {
    return {
      requestId: this.requestId(headers),
      retryAfter: headerValue(headers['retry-after']) ?? null,
      retryAfterMs: headerValue(headers['retry-after-ms']) ?? null,
      processingMs: headerValue(headers['openai-processing-ms']) ?? null,
    };
  }

  /**
   * Every failure of a model call as a ProviderError naming the deployment. undici rejects an
   * aborted call with the signal's reason (any value the caller chose, even another
   * deployment's ProviderError), so an aborted signal decides, not the error's shape.
   */
  private callError(deployment: Deployment, error: unknown, signal?: AbortSignal): ProviderError {
    // An HTTP error that arrived before the abort is still this upstream's answer.
    const answered =
      error instanceof ProviderError &&
      error.status !== null &&
      error.deploymentId === deployment.id;
    if (signal?.aborted === true && !answered) {
      return new ProviderError('aborted before the upstream answered', null, ABORTED, false, true, {
        deploymentId: deployment.id,
      });
    }
    return this.transportError(deployment, error);
  }

  /** Sends, reads a JSON answer, and maps any failure to ProviderError. */
  protected async callJson(
    deployment: Deployment,
    method: Method,
    url: string,
    init: SendInit,
  ): Promise<unknown> {
    const response = await this.send(deployment, method, url, init);
    if (response.statusCode >= 400) {
      throw await this.errorFrom(deployment, response);
    }
    try {
      return await response.body.json();
    } catch (error) {
      throw this.transportError(deployment, error);
    }
  }

  protected async send(
    deployment: Deployment,
    method: Method,
    url: string,
    init: SendInit,
  ): Promise<Dispatcher.ResponseData> {
    try {
      return await request(url, {
        method,
        dispatcher: this.options.dispatcher,
        headers: { accept: 'application/json', ...this.authHeaders(deployment), ...init.headers },
        // Dispatcher.md documents (async) iterable bodies; the type declarations omit them.
        body: init.body as Readable | string | undefined,
        signal: init.signal,
      });
    } catch (error) {
      throw this.transportError(deployment, error);
    }
  }

  private async errorFrom(
    deployment: Deployment,
    response: Dispatcher.ResponseData,
  ): Promise<ProviderError> {
    let parsed: unknown = null;
    try {
      const text = await readLimited(response.body, MAX_ERROR_BODY_BYTES);
      parsed = text ? (JSON.parse(text) as unknown) : null;
    } catch {
      // A non-JSON error body (a proxy's HTML page): the status says enough.
    }
    const { message, code, type, param } = this.parseError(parsed);
    return new ProviderError(
      redact(message ?? `HTTP ${response.statusCode}`, deployment),
      response.statusCode,
      code,
      false,
      true,
      {
        type,
        param,
        retryAfter: headerValue(response.headers['retry-after']) ?? null,
        requestId: this.requestId(response.headers),
        deploymentId: deployment.id,
      },
    );
  }

  private transportError(deployment: Deployment, error: unknown): ProviderError {
    if (error instanceof ProviderError) {
      return error;
    }
    const timedOut =
      error instanceof undiciErrors.HeadersTimeoutError ||
      error instanceof undiciErrors.BodyTimeoutError ||
      error instanceof undiciErrors.ConnectTimeoutError ||
      (error instanceof Error && error.name === 'TimeoutError');
    const message = error instanceof Error ? error.message : String(error);
    return new ProviderError(
      redact(timedOut ? `timed out: ${message}` : `connection failed: ${message}`, deployment),
      null,
      timedOut ? 'timeout' : 'connection_error',
      timedOut,
      true,
      { deploymentId: deployment.id },
    );
  }
}

/** Upstream messages sometimes echo credentials; they never reach our clients or logs. */
function redact(message: string, deployment: Deployment): string {
  // Redact before clipping: a key straddling the cut would otherwise leave its first part.
  const redacted = deployment.apiKey ? message.split(deployment.apiKey).join('***') : message;
  return redacted.length > 500 ? `${redacted.slice(0, 500)}…` : redacted;
}

async function readLimited(body: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) {
      body.destroy();
      break;
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `application/json`, `application/problem+json`…, as the SDKs decide (reference §6). */
function isJsonMediaType(contentType: string): boolean {
  const media = contentType.split(';')[0].trim().toLowerCase();
  return media === 'application/json' || media.endsWith('+json');
}

export function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

export function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function toProviderFile(value: unknown): ProviderFile {
  const record = asRecord(value);
  if (typeof record.id !== 'string' || record.id === '') {
    throw new ProviderError('upstream answered without a file id', 502, 'bad_upstream_response');
  }
  return {
    id: record.id,
    filename: typeof record.filename === 'string' ? record.filename : '',
    purpose: typeof record.purpose === 'string' ? record.purpose : '',
    bytes: typeof record.bytes === 'number' ? record.bytes : null,
    createdAt: typeof record.created_at === 'number' ? record.created_at : 0,
    expiresAt: typeof record.expires_at === 'number' ? record.expires_at : null,
  };
}
