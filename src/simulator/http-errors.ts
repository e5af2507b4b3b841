import type { Dialect } from './types';

/**
 * A failure a handler wants to report to the client. Handlers throw it and the server renders it
 * in the dialect's error envelope, so handlers never need to know which dialect they serve.
 */
export class SimHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    /** OpenAI `code`; Azure gets its own code derived from the status unless this is set. */
    readonly code: string | null = null,
    readonly azureCode: string | null = null,
    /** Extra response headers (a 429's `retry-after`). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'SimHttpError';
  }
}

const OPENAI_TYPES: Readonly<Partial<Record<number, string>>> = {
  400: 'invalid_request_error',
  401: 'invalid_request_error',
  403: 'invalid_request_error',
  404: 'invalid_request_error',
  409: 'invalid_request_error',
  413: 'invalid_request_error',
  429: 'requests',
};

const AZURE_CODES: Readonly<Partial<Record<number, string>>> = {
  400: 'invalidPayload',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'notFound',
  408: 'timeout',
  409: 'conflict',
  413: 'payloadTooLarge',
  429: 'tooManyRequests',
  500: 'internalServerError',
  502: 'badGateway',
  503: 'serviceUnavailable',
  504: 'gatewayTimeout',
};

/** The error body each dialect sends (reference §6 and §7: Azure has no type/param). */
export function errorBody(dialect: Dialect, error: SimHttpError): Record<string, unknown> {
  if (dialect === 'azure') {
    const code =
      error.azureCode ??
      AZURE_CODES[error.status] ??
      (error.status >= 500 ? 'internalServerError' : 'invalidPayload');
    return { error: { code, message: error.message } };
  }
  const type = OPENAI_TYPES[error.status] ?? (error.status >= 500 ? 'server_error' : 'api_error');
  return { error: { message: error.message, type, param: error.param, code: error.code } };
}

export function notFound(kind: string, id: string): SimHttpError {
  return new SimHttpError(404, `No such ${kind} object: ${id}`, 'id', null, 'notFound');
}

export function badRequest(message: string, param: string | null = null): SimHttpError {
  return new SimHttpError(400, message, param, null, 'invalidPayload');
}
