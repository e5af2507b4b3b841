import { InvalidRequestError } from '../../common/errors/api-error';

/** What OpenAI accepts for `purpose` on upload (CreateFileRequest). */
export const UPLOAD_PURPOSES = [
  'assistants',
  'batch',
  'fine-tune',
  'vision',
  'user_data',
  'evals',
] as const;
export type UploadPurpose = (typeof UPLOAD_PURPOSES)[number];

/**
 * Purposes a file object can have: OpenAI's response enum (which adds the output purposes of
 * batches and fine-tuning) plus `evals`, which OpenAI accepts on upload but leaves out of it.
 */
export const FILE_OBJECT_PURPOSES = [
  'assistants',
  'assistants_output',
  'batch',
  'batch_output',
  'fine-tune',
  'fine-tune-results',
  'vision',
  'user_data',
  'evals',
] as const;

export const MIN_EXPIRY_SECONDS = 3_600;
export const MAX_EXPIRY_SECONDS = 2_592_000;

export interface CreateFileFields {
  readonly purpose: UploadPurpose;
  /** null: the caller named none (the configured default targets apply). */
  readonly targetModelNames: readonly string[] | null;
  readonly expiresAfterSeconds: number | null;
}

/** Multipart text fields by name, in arrival order. */
export type FormFields = ReadonlyMap<string, readonly string[]>;

/**
 * Validates the text fields of `POST /v1/files`. Errors name the field in `param`.
 * `target_model_names` arrives the ways the SDKs send it: one comma-separated string, repeated
 * `target_model_names[]` (or `[0]`, `[1]`…) fields, or a JSON array string.
 */
export function parseCreateFileFields(fields: FormFields): CreateFileFields {
  const purpose = last(fields, 'purpose');
  if (purpose === undefined || purpose === '') {
    throw new InvalidRequestError("Missing required parameter: 'purpose'.", {
      param: 'purpose',
      code: 'missing_required_parameter',
    });
  }
  if (!(UPLOAD_PURPOSES as readonly string[]).includes(purpose)) {
    throw new InvalidRequestError(
      `Invalid value for 'purpose': '${purpose}'. Supported values are: ${UPLOAD_PURPOSES.map((p) => `'${p}'`).join(', ')}.`,
      { param: 'purpose', code: 'invalid_value' },
    );
  }
  return {
    purpose: purpose as UploadPurpose,
    targetModelNames: targetModelNames(fields),
    expiresAfterSeconds: expiresAfter(fields),
  };
}

/** True once the fields needed to start copying are known (purpose and explicit targets). */
export function canStartEarly(fields: FormFields): boolean {
  return fields.has('purpose') && targetModelNames(fields) !== null;
}

function targetModelNames(fields: FormFields): string[] | null {
  const raw: string[] = [];
  for (const [name, values] of fields) {
    if (name === 'target_model_names' || /^target_model_names\[\d*\]$/.test(name)) {
      raw.push(...values);
    }
  }
  if (raw.length === 0) {
    // LiteLLM's other spelling (`extra_body={"model": …}`) names one target model.
    const model = last(fields, 'model')?.trim();
    return model ? [model] : null;
  }
  const names = raw
    .flatMap(splitNames)
    .map((n) => n.trim())
    .filter((n) => n !== '');
  return [...new Set(names)];
}

function splitNames(value: string): string[] {
  const trimmed = value.trim();
  if (trimmed.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (Array.isArray(parsed) && parsed.every((v) => typeof v === 'string')) {
        return parsed;
      }
    } catch {
      // Not JSON after all: treat as a comma-separated list.
    }
  }
  return trimmed.split(',');
}

function expiresAfter(fields: FormFields): number | null {
  const anchor = last(fields, 'expires_after[anchor]');
  const seconds = last(fields, 'expires_after[seconds]');
  if (anchor === undefined && seconds === undefined) {
    return null;
  }
  if (anchor === undefined || seconds === undefined) {
    const missing = anchor === undefined ? 'expires_after[anchor]' : 'expires_after[seconds]';
    throw new InvalidRequestError(
      `'expires_after' needs both 'anchor' and 'seconds'; '${missing}' is missing.`,
      { param: missing, code: 'missing_required_parameter' },
    );
  }
  if (anchor !== 'created_at') {
    throw new InvalidRequestError(
      `Invalid value for 'expires_after[anchor]': '${anchor}'. The only supported anchor is 'created_at'.`,
      { param: 'expires_after[anchor]', code: 'invalid_value' },
    );
  }
  const value = /^\d+$/.test(seconds) ? Number(seconds) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < MIN_EXPIRY_SECONDS || value > MAX_EXPIRY_SECONDS) {
    throw new InvalidRequestError(
      `Invalid value for 'expires_after[seconds]': '${seconds}'. It must be an integer between ${MIN_EXPIRY_SECONDS} and ${MAX_EXPIRY_SECONDS}.`,
      { param: 'expires_after[seconds]', code: 'invalid_value' },
    );
  }
  return value;
}

function last(fields: FormFields, name: string): string | undefined {
  const values = fields.get(name);
  return values?.[values.length - 1];
}
