import type { Deployment } from '../../../config/deployment';
import type { UploadRequest } from '../../provider-client';
import { asRecord, HttpProviderAdapter } from '../http-provider.adapter';

/** OpenAI and any OpenAI-compatible endpoint: `{api_base}/files…`, `Authorization: Bearer`. */
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

  protected parseError(body: unknown): { message: string | null; code: string | null } {
    const error = asRecord(asRecord(body).error);
    return {
      message: typeof error.message === 'string' ? error.message : null,
      code:
        typeof error.code === 'string'
          ? error.code
          : typeof error.type === 'string'
            ? error.type
            : null,
    };
  }
}
