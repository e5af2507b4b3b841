// Test fixture (not built: see tsconfig.json): what the adapter specs share.
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { Deployment } from '../../config/deployment';
import { ProviderError, type UploadRequest } from '../provider-client';

/** An upload of `content` (in one chunk unless `openBody` is overridden). */
export function uploadOf(content: Buffer, overrides: Partial<UploadRequest> = {}): UploadRequest {
  return {
    purpose: 'assistants',
    filename: 'mfg_0a1b2c__notes.txt',
    mimeType: 'text/plain',
    expiresAfterSeconds: null,
    openBody: () => Readable.from([content]),
    ...overrides,
  };
}

/** An OpenAI-dialect deployment of `gpt-test` at `apiBase`. */
export function openAiDeployment(
  apiBase: string,
  apiKey: string,
  id = 'openai-primary',
): Deployment {
  return {
    id,
    modelName: 'gpt-test',
    provider: 'openai',
    upstreamModel: 'gpt-4o-mini',
    apiBase,
    apiKey,
    apiVersion: null,
    weight: 1,
  };
}

/** Awaits a call that must fail with a ProviderError whose message never shows `secret`. */
export async function failsWithProviderError(
  call: Promise<unknown>,
  secret: string,
): Promise<ProviderError> {
  let outcome: unknown;
  try {
    outcome = await call;
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError);
    const providerError = error as ProviderError;
    expect(providerError.message).not.toContain(secret);
    return providerError;
  }
  throw new Error(`expected a ProviderError, the call succeeded with ${JSON.stringify(outcome)}`);
}

export async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await delay(10);
  }
}
