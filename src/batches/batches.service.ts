import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { Caller } from '../common/auth/caller';
import { InvalidRequestError } from '../common/errors/api-error';
import { deploymentsHoldingEvery, providerFileIdOn } from '../files/file-placement';
import type { FileRecord } from '../files/file-record';
import { BATCH_ENDPOINTS } from '../files/upload/batch-jsonl';
import type { ResolvedRef } from '../managed-refs/resolved-refs';
import {
  ManagedObjectsService,
  type ObjectKind,
  type ObjectList,
  type ProviderObject,
} from '../managed-objects/managed-objects.service';
import type { ObjectRecord } from '../managed-objects/object-record';
import { ModelCatalogService } from '../models/model-catalog.service';
import { ProviderRouterService } from '../provider-router/provider-router.service';

/** The fields OpenAI's Batch schema requires. */
const REQUIRED_FIELDS: ReadonlySet<string> = new Set([
  'id',
  'object',
  'endpoint',
  'input_file_id',
  'completion_window',
  'status',
  'created_at',
]);

/** Where a batch's answers name files, and the names result files get when the provider's is unknown. */
const RESULT_FILE_FIELDS = {
  output_file_id: 'batch_output.jsonl',
  error_file_id: 'batch_errors.jsonl',
} as const;

/** Batches as a kind of managed object (see ManagedObjectsService). */
export const BATCH: ObjectKind = {
  kind: 'batch',
  idParam: 'batch_id',
  retrieveCall: (id) => ({ operation: 'batches.retrieve', id }),
  resultFiles: (answer) =>
    Object.entries(RESULT_FILE_FIELDS).flatMap(([field, fallbackName]) => {
      const providerFileId = answer[field];
      return typeof providerFileId === 'string'
        ? [{ providerFileId, purpose: 'batch_output', fallbackName }]
        : [];
    }),
  render: (answer, id, fileIdOf) => {
    const out: ProviderObject = {};
    for (const [key, value] of Object.entries(answer)) {
      // OpenAI's schema declares these optional, not nullable, while its API sends null: leaving
      // them out satisfies both the schema and the SDKs.
      if (value === null && !REQUIRED_FIELDS.has(key)) continue;
      out[key] = value;
    }
    out.id = id;
    for (const field of ['input_file_id', ...Object.keys(RESULT_FILE_FIELDS)]) {
      const providerFileId = answer[field];
      if (typeof providerFileId === 'string') out[field] = fileIdOf(providerFileId);
    }
    return out;
  },
};

/**
 * Batches on managed files: a batch runs on one deployment that holds its input file (of
 * `model`'s deployments when the caller names one); its id, input and result files come back as
 * unified ids.
 */
@Injectable()
export class BatchesService implements OnModuleInit {
  constructor(
    private readonly objects: ManagedObjectsService,
    private readonly router: ProviderRouterService,
    private readonly catalog: ModelCatalogService,
  ) {}

  onModuleInit(): void {
    this.objects.define(BATCH);
  }

  async create(
    body: Record<string, unknown>,
    input: ResolvedRef,
    caller: Caller,
    signal: AbortSignal,
  ): Promise<ProviderObject> {
    const file = input.record as FileRecord;
    if (file.purpose !== 'batch') {
      throw new InvalidRequestError(
        `The input file must have purpose 'batch'; '${input.id}' has purpose '${file.purpose}'.`,
        { param: 'input_file_id', code: 'invalid_file_purpose' },
      );
    }
    const endpoint = body.endpoint;
    if (typeof endpoint !== 'string' || !BATCH_ENDPOINTS.includes(endpoint)) {
      throw new InvalidRequestError(
        `Invalid 'endpoint': ${JSON.stringify(endpoint ?? null)}. Supported values are: ${BATCH_ENDPOINTS.join(', ')}.`,
        { param: 'endpoint', code: 'invalid_value' },
      );
    }
    if (body.completion_window !== '24h') {
      throw new InvalidRequestError(
        "Invalid 'completion_window': the only supported value is '24h'.",
        { param: 'completion_window', code: 'invalid_value' },
      );
    }
    const { model, ...forward } = body;
    // An optional `model` narrows the choice, resolved as every call resolves one (a fine-tuned
    // model the caller may use included); without it, any deployment holding the file.
    const deployments =
      model === undefined || model === null
        ? this.router.deployments
        : (await this.catalog.resolve(model, caller)).deployments;
    const candidates = deploymentsHoldingEvery(
      [input],
      deployments,
      typeof model === 'string' ? model : null,
      (id) => this.router.deployment(id)?.modelName,
    );
    return this.objects.create(
      BATCH,
      candidates,
      [input],
      (d) => ({
        operation: 'batches.create',
        body: { ...forward, input_file_id: providerFileIdOn(file, d) },
      }),
      caller,
      signal,
    );
  }

  retrieve(record: ObjectRecord, signal: AbortSignal): Promise<ProviderObject> {
    return this.objects.retrieve(BATCH, record, signal);
  }

  cancel(record: ObjectRecord, signal: AbortSignal): Promise<ProviderObject> {
    return this.objects.act(
      BATCH,
      record,
      { operation: 'batches.cancel', id: record.providerObjectId },
      signal,
    );
  }

  list(caller: Caller, after: string | null, limit: number): Promise<ObjectList> {
    return this.objects.list(BATCH, caller, { after, limit });
  }
}
