import type { IncomingHttpHeaders } from 'node:http';
import type { Deployment } from '../../../config/deployment';
import type { ProviderOperation, UploadRequest } from '../../provider-client';
import {
  asRecord,
  HttpProviderAdapter,
  stringOrNull,
  type ParsedUpstreamError,
} from '../http-provider.adapter';
import type { ResolvedOperation } from '../operation-routes';
import { openAiFineTuning } from './azure-fine-tuning';

/**
 * Azure's allowed file expiry window. Azure requires an expiry on upload; when the caller gave
 * none (or a shorter one), the copy gets the longest (or shortest allowed) and the gateway's own
 * record, which keeps the caller's expiry, decides when the file is gone for the caller.
 */
export const AZURE_MIN_EXPIRY_SECONDS = 1_209_600;
export const AZURE_MAX_EXPIRY_SECONDS = 2_592_000;

/**
 * Upload purposes the dated Azure API knows. OpenAI's newer ones (user_data, vision, evals)
 * are sent as `assistants`, the general-purpose kind; the gateway's record keeps the caller's.
 */
const AZURE_UPLOAD_PURPOSES: ReadonlySet<string> = new Set(['assistants', 'batch', 'fine-tune']);

/**
 * Azure OpenAI (dated API): `{endpoint}/openai/files?api-version=…`, `api-key` header,
 * `expires_after.*` dot fields, 201 on create, `{error:{code,message}}` bodies. Chat goes to
 * `/openai/deployments/{deployment}/chat/completions`; the Responses API to
 * `/openai/responses` (the body's `model` names the deployment).
 */
export class AzureAdapter extends HttpProviderAdapter {
  protected url(deployment: Deployment, path: string, query?: URLSearchParams): string {
    const params = new URLSearchParams(query);
    params.set('api-version', deployment.apiVersion ?? '');
    return `${deployment.apiBase}/openai${path}?${params.toString()}`;
  }

  protected authHeaders(deployment: Deployment): Record<string, string> {
    return { 'api-key': deployment.apiKey };
  }

  protected uploadFields(upload: UploadRequest): Array<readonly [string, string]> {
    const seconds = Math.min(
      AZURE_MAX_EXPIRY_SECONDS,
      Math.max(AZURE_MIN_EXPIRY_SECONDS, upload.expiresAfterSeconds ?? AZURE_MAX_EXPIRY_SECONDS),
    );
    return [
      ['purpose', AZURE_UPLOAD_PURPOSES.has(upload.purpose) ? upload.purpose : 'assistants'],
      ['expires_after.anchor', 'created_at'],
      ['expires_after.seconds', String(seconds)],
    ];
  }

  /** Model calls Azure routes by deployment go to `/openai/deployments/{name}/…` (reference §7). */
  protected override operationUrl(deployment: Deployment, operation: ResolvedOperation): string {
    const path = operation.perDeployment
      ? `/deployments/${encodeURIComponent(deployment.upstreamModel)}${operation.path}`
      : operation.path;
    return this.url(deployment, path, operation.query);
  }

  protected override normaliseReply(operation: ProviderOperation, body: unknown): unknown {
    return openAiFineTuning(operation, body);
  }

  /** The dated API's `{error:{code,message,target?}}` and the v1 API's OpenAI-like body. */
  protected parseError(body: unknown): ParsedUpstreamError {
    const error = asRecord(asRecord(body).error);
    return {
      message: stringOrNull(error.message),
      code: stringOrNull(error.code),
      type: stringOrNull(error.type),
      param: stringOrNull(error.param) ?? stringOrNull(error.target),
    };
  }

  /** Azure names its request id `apim-request-id`; some gateways in front add `x-request-id`. */
  protected override requestId(headers: IncomingHttpHeaders): string | null {
    return firstHeader(headers['x-request-id']) ?? firstHeader(headers['apim-request-id']);
  }
}

function firstHeader(value: string | string[] | undefined): string | null {
  return (Array.isArray(value) ? value[0] : value) ?? null;
}
