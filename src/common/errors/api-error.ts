/**
 * Errors that services throw. Each carries what the OpenAI error envelope needs
 * (`{"error":{"message","type","param","code"}}`) so one filter can write every response the
 * same way and no service builds HTTP responses itself.
 */
export interface ApiErrorOptions {
  readonly param?: string | null;
  readonly code?: string | null;
  readonly headers?: Readonly<Record<string, string>>;
}

export class ApiError extends Error {
  readonly param: string | null;
  readonly code: string | null;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    options: ApiErrorOptions = {},
  ) {
    super(message);
    this.name = new.target.name;
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.headers = options.headers ?? {};
  }
}

export class InvalidRequestError extends ApiError {
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(400, 'invalid_request_error', message, options);
  }
}

export class AuthenticationError extends ApiError {
  constructor(message = 'Invalid or missing API key. Send it as `Authorization: Bearer <key>`.') {
    super(401, 'authentication_error', message, { code: 'invalid_api_key' });
  }
}

export class PermissionDeniedError extends ApiError {
  constructor(message: string) {
    super(403, 'permission_error', message, { code: 'permission_denied' });
  }
}

export class NotFoundError extends ApiError {
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(404, 'invalid_request_error', message, { code: 'not_found', ...options });
  }
}

/** The request conflicts with the state of an object (a file still used by a running batch). */
export class ConflictError extends ApiError {
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(409, 'invalid_request_error', message, { code: 'conflict', ...options });
  }
}

export class PayloadTooLargeError extends ApiError {
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(413, 'invalid_request_error', message, { code: 'file_too_large', ...options });
  }
}

/**
 * An upstream deployment failed. 502 for errors, 504 for timeouts. `x-should-retry: false`
 * because the SDKs retry 5xx automatically and a retried upload would only fail the same way
 * after we already rolled back (see openai-api.md, "Retries").
 */
export class UpstreamError extends ApiError {
  constructor(message: string, options: ApiErrorOptions & { readonly timeout?: boolean } = {}) {
    super(options.timeout ? 504 : 502, 'upstream_error', message, {
      code: options.code ?? (options.timeout ? 'upstream_timeout' : 'upstream_error'),
      param: options.param,
      headers: { 'x-should-retry': 'false', ...options.headers },
    });
  }
}

/**
 * The gateway cannot serve now but will soon (database outage, shutting down): 503 with
 * `Retry-After`, which the SDKs honour when they retry.
 */
export class ServiceUnavailableError extends ApiError {
  constructor(
    message: string,
    options: { readonly code?: string; readonly retryAfterSeconds?: number } = {},
  ) {
    super(503, 'server_error', message, {
      code: options.code ?? 'service_unavailable',
      headers:
        options.retryAfterSeconds === undefined
          ? {}
          : { 'retry-after': String(options.retryAfterSeconds) },
    });
  }
}

/**
 * The client closed the connection before its request finished (nginx's 499). Nobody reads the
 * answer; the error exists so the work in flight unwinds and cleans up like any other failure.
 */
export class ClientClosedRequestError extends ApiError {
  constructor(message = 'the client closed the connection before the request finished') {
    super(499, 'invalid_request_error', message, { code: 'client_closed_request' });
  }
}
