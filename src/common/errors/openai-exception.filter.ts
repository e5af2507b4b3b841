import {
  Catch,
  HttpException,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import type { Response } from 'express';
import type { GatewayRequest } from '../http/request-context';
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
 * Unknown errors become a 500 with a generic message; the stack goes to the log with the
 * request id, never to the client.
 */
@Catch()
export class OpenAIExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(OpenAIExceptionFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const response = ctx.getResponse<Response>();
    const request = ctx.getRequest<GatewayRequest>();
    const { status, body, headers } = this.toResponse(exception, request);
    if (response.headersSent) {
      // A streamed body already started (file content): the only honest signal left is to cut it.
      response.destroy();
      return;
    }
    for (const [name, value] of Object.entries(headers)) {
      response.setHeader(name, value);
    }
    response.status(status).json(body);
  }

  private toResponse(
    exception: unknown,
    request: GatewayRequest,
  ): { status: number; body: OpenAIErrorBody; headers: Readonly<Record<string, string>> } {
    if (exception instanceof ApiError) {
      return {
        status: exception.status,
        headers: exception.headers,
        body: envelope(exception.message, exception.type, exception.param, exception.code),
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      if (status >= 500) {
        this.logger.error(`[${request.requestId ?? '-'}] ${exception.message}`, exception.stack);
      }
      return {
        status,
        headers: {},
        body: envelope(
          httpExceptionMessage(exception),
          TYPE_BY_STATUS[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error'),
          null,
          null,
        ),
      };
    }
    this.logger.error(
      `[${request.requestId ?? '-'}] unhandled error on ${request.method} ${request.path}`,
      exception instanceof Error ? exception.stack : String(exception),
    );
    return {
      status: 500,
      headers: {},
      body: envelope(
        'The server had an error while processing your request.',
        'server_error',
        null,
        null,
      ),
    };
  }
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
