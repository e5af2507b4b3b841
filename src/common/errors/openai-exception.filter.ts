import {
  Catch,
  HttpException,
  Logger,
  Optional,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { GatewayRequest } from '../http/request-context';
import { DatabaseOutageService } from '../../database/database-outage.service';
import { ApiError } from './api-error';

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const TYPE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  405: 'invalid_request_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
};

/**
 * The one place that writes error responses, always as OpenAI's envelope with all four keys.
 * An unreachable database is a 503 with Retry-After (logged once per outage, not per request);
 * other unknown errors become a 500 with a generic message, the stack going to the log with the
 * request id, never to the client.
 */
@Catch()
export class OpenAIExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(OpenAIExceptionFilter.name);

  constructor(@Optional() private readonly outage?: DatabaseOutageService) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const response = ctx.getResponse<ServerResponse>();
    const request = ctx.getRequest<GatewayRequest>();
    const error = this.toApiError(exception, request);
    if (response.headersSent) {
      // A streamed body already started (file content): the only honest signal left is to cut it.
      response.destroy();
      return;
    }
    writeErrorEnvelope(response, error);
  }

  private toApiError(exception: unknown, request: GatewayRequest): ApiError {
    if (exception instanceof ApiError) {
      return exception;
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      if (status >= 500) {
        this.logger.error(exception.message, exception.stack);
      }
      return new ApiError(
        status,
        TYPE_BY_STATUS[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error'),
        httpExceptionMessage(exception),
      );
    }
    const unavailable = this.outage?.unavailable(exception);
    if (unavailable) {
      return unavailable;
    }
    this.logger.error(
      `unhandled error on ${request.method} ${request.path}`,
      exception instanceof Error ? exception.stack : String(exception),
    );
    return new ApiError(
      500,
      'server_error',
      'The server had an error while processing your request.',
    );
  }
}

/**
 * Writes an ApiError as the envelope on a bare Node response: shared by the filter and by the
 * code that answers before Nest sees a request (drain gate, Node's own client errors).
 */
export function writeErrorEnvelope(response: ServerResponse, error: ApiError): void {
  const body = JSON.stringify(envelope(error.message, error.type, error.param, error.code));
  for (const [name, value] of Object.entries(error.headers)) {
    response.setHeader(name, value);
  }
  response.statusCode = error.status;
  response.setHeader('content-type', 'application/json; charset=utf-8');
  response.setHeader('content-length', Buffer.byteLength(body));
  response.end(body);
}

export function envelope(
  message: string,
  type: string,
  param: string | null,
  code: string | null,
): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

function httpExceptionMessage(exception: HttpException): string {
  const response = exception.getResponse();
  if (typeof response === 'object' && response !== null && 'message' in response) {
    const message: unknown = response.message;
    if (Array.isArray(message)) {
      return message.map(String).join('; ');
    }
    if (typeof message === 'string') {
      return message;
    }
  }
  return exception.message;
}
