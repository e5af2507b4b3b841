import type { Deployment } from '../../../config/deployment';
import type { UploadRequest } from '../../provider-client';
import {
  asRecord,
  HttpProviderAdapter,
  stringOrNull,
  type ParsedUpstreamError,
} from '../http-provider.adapter';

/**
 * OpenAI and any OpenAI-compatible endpoint: `{api_base}/files…`, `{api_base}/chat/completions`,
 * `Authorization: Bearer`; the body's `model` (set by the caller) picks the upstream model.
 */
export class OpenAIAdapter extends HttpProviderAdapter {
  protected url(deployment: Deployment, path: string, query?: URLSearchParams): string {
    const qs = query && query.size > 0 ? `?${query.toString()}` : '';
    return `${deployment.apiBase}${path}${qs}`;
  }

  protected authHeaders(deployment: Deployment): Record<string, string> {
    return { authorization: `Bearer ${deployment.apiKey}` };
  }

  protected uploadFields(upload: UploadRequest): Array<readonly [string, string]> {
    const fields: Array<readonly [string, string]> = [['purpose', upload.purpose]];
    if (upload.expiresAfterSeconds !== null) {
      fields.push(['expires_after[anchor]', 'created_at']);
      fields.push(['expires_after[seconds]', String(upload.expiresAfterSeconds)]);
    }
    return fields;
  }

  protected parseError(body: unknown): ParsedUpstreamError {
    const error = asRecord(asRecord(body).error);
    return {
      message: stringOrNull(error.message),
      // Some OpenAI-compatible servers send numeric codes.
      code: typeof error.code === 'number' ? String(error.code) : stringOrNull(error.code),
      type: stringOrNull(error.type),
      param: stringOrNull(error.param),
    };
  }
}
