import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { Caller } from '../common/auth/caller';
import { InvalidRequestError, UpstreamError } from '../common/errors/api-error';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { Deployment } from '../config/deployment';
import type { FileRecord } from '../files/file-record';
import { BATCH_ENDPOINTS } from '../files/upload/batch-jsonl';
import { FilesService } from '../files/files.service';
import type { UnifiedIdPayload } from '../id-codec/id-codec';
import { IdCodecService } from '../id-codec/id-codec.service';
import { JobsService } from '../jobs/jobs.service';
import type { ResolvedRef } from '../managed-refs/resolved-refs';
import type { RefLoader } from '../managed-refs/ref-loader';
import { RefLoaders } from '../managed-refs/ref-loaders';
import { ManagedObjectsRepository } from '../managed-objects/managed-objects.repository';
import { TERMINAL_STATUSES, type ObjectRecord } from '../managed-objects/object-record';
import { toCallerError } from '../provider-router/caller-error';
import type { ProviderCall } from '../provider-router/provider-client';
import { ProviderRouterService } from '../provider-router/provider-router.service';

export type BatchObject = Record<string, unknown>;

export interface BatchList {
  object: 'list';
  data: BatchObject[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

const REFRESH_PASS = 'batches-refresh';
const REFRESH_ONE = 'batch-refresh';

interface RefreshJob {
  readonly batchId: string;
}

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

/** Where a batch's answers name files, and what a registered result file is for. */
const RESULT_FILE_FIELDS = ['output_file_id', 'error_file_id'] as const;

/**
 * Batches on managed files: a batch runs on one deployment that holds its input file; its id,
 * input and result files come back as unified ids; result files become managed files of the
 * batch owner, registered once. Terminal batches are answered from the store.
 */
@Injectable()
export class BatchesService implements RefLoader<ObjectRecord>, OnModuleInit {
  readonly kind = 'batch' as const;
  private readonly logger = new Logger(BatchesService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly jobs: JobsService,
    private readonly objects: ManagedObjectsRepository,
    private readonly files: FilesService,
    private readonly router: ProviderRouterService,
    private readonly ids: IdCodecService,
    private readonly loaders: RefLoaders,
  ) {}

  onModuleInit(): void {
    this.loaders.register(this);
    // Batches still running are refreshed even when nobody polls, so their output files are
    // registered for their owners. A pass queues one job per batch (deduplicated by batch id,
    // so replicas never both refresh one batch in a cycle); each is retried on its own.
    this.jobs.schedule(REFRESH_PASS, this.config.batchRefreshIntervalMs, async () => {
      for (const batchId of await this.objects.unfinished('batch', TERMINAL_STATUSES, 500)) {
        await this.jobs.send<RefreshJob>(REFRESH_ONE, { batchId }, { singletonKey: batchId });
      }
    });
    this.jobs.work<RefreshJob>(
      REFRESH_ONE,
      (job) => this.refreshInBackground(job.data, job.signal),
      {
        retryLimit: 5,
        retryDelayMs: 5_000,
      },
    );
  }

  /** One batch, as the system: its owner's files are registered, nothing else is widened. */
  private async refreshInBackground(job: RefreshJob, signal: AbortSignal): Promise<void> {
    const [record] = await this.objects.findByIds([job.batchId]);
    if (!record || record.kind !== 'batch' || TERMINAL_STATUSES.includes(record.status)) return;
    await this.retrieve(record, signal);
  }

  async loadMany(
    payloads: readonly UnifiedIdPayload[],
  ): Promise<ReadonlyMap<string, ObjectRecord>> {
    const records = await this.objects.findByIds(payloads.map((p) => p.uid));
    return new Map(records.filter((r) => r.kind === 'batch').map((r) => [r.id, r]));
  }

  async create(
    body: Record<string, unknown>,
    input: ResolvedRef,
    caller: Caller,
    signal: AbortSignal,
  ): Promise<BatchObject> {
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
        {
          param: 'completion_window',
          code: 'invalid_value',
        },
      );
    }
    const candidates = this.candidates(file, input.id, body.model);
    const { model: _model, ...forward } = body;
    void _model;
    const providerInput = new Map(file.copies.map((c) => [c.deploymentId, c.providerFileId ?? '']));
    const { deployment, reply } = await this.call(
      candidates,
      (d) => ({
        operation: 'batches.create',
        body: { ...forward, input_file_id: providerInput.get(d.id) ?? '' },
      }),
      signal,
    );
    const answer = asObject(reply);
    const record = await this.objects.register({
      id: randomUUID(),
      kind: 'batch',
      deploymentId: deployment.id,
      providerObjectId: String(answer.id),
      owner: { userId: caller.userId, teamId: caller.teamId },
      status: String(answer.status),
      providerObject: answer,
      fileIds: [file.id],
      fileMap: { [providerInput.get(deployment.id) ?? '']: input.id },
    });
    return this.refresh(record, answer);
  }

  /** A terminal batch from the store; otherwise the provider's answer, which updates the store. */
  async retrieve(record: ObjectRecord, signal: AbortSignal): Promise<BatchObject> {
    if (TERMINAL_STATUSES.includes(record.status)) {
      return this.render(record, record.providerObject, record.fileMap);
    }
    const answer = await this.onDeployment(
      record,
      { operation: 'batches.retrieve', id: record.providerObjectId },
      signal,
    );
    return this.refresh(record, answer);
  }

  async cancel(record: ObjectRecord, signal: AbortSignal): Promise<BatchObject> {
    const answer = await this.onDeployment(
      record,
      { operation: 'batches.cancel', id: record.providerObjectId },
      signal,
    );
    return this.refresh(record, answer);
  }

  async list(caller: Caller, after: string | null, limit: number): Promise<BatchList> {
    const page = await this.objects.listVisible({ kind: 'batch', caller, after, limit });
    const data = page.data.map((r) => this.render(r, r.providerObject, r.fileMap));
    return {
      object: 'list',
      data,
      first_id: (data[0]?.id as string | undefined) ?? null,
      last_id: (data[data.length - 1]?.id as string | undefined) ?? null,
      has_more: page.hasMore,
    };
  }

  /**
   * Stores the provider's answer, registering result files it names for the first time as
   * managed files of the batch owner (idempotent: concurrent retrieves converge on one record).
   */
  private async refresh(record: ObjectRecord, answer: BatchObject): Promise<BatchObject> {
    const deployment = this.router.deployment(record.deploymentId);
    const learnt: Record<string, string> = {};
    for (const field of RESULT_FILE_FIELDS) {
      const providerFileId = answer[field];
      if (typeof providerFileId !== 'string' || !deployment) continue;
      if (record.fileMap[providerFileId]) continue;
      learnt[providerFileId] = await this.registerResult(record, deployment, providerFileId, field);
    }
    await this.objects.update(record.id, String(answer.status), answer, learnt);
    return this.render(record, answer, { ...record.fileMap, ...learnt });
  }

  private async registerResult(
    record: ObjectRecord,
    deployment: Deployment,
    providerFileId: string,
    field: (typeof RESULT_FILE_FIELDS)[number],
  ): Promise<string> {
    let meta: BatchObject = {};
    try {
      const { reply } = await this.router.callOne([deployment], () => ({
        operation: 'files.retrieve',
        id: providerFileId,
      }));
      meta = asObject(reply);
    } catch (error) {
      // The file is registered all the same: its content is served from the provider.
      this.logger.warn(
        `batch ${record.id}: metadata of ${field} unavailable: ${(error as Error).message}`,
      );
    }
    return this.files.registerResultFile({
      deployment,
      providerFileId,
      owner: record.owner,
      purpose: 'batch_output',
      filename:
        typeof meta.filename === 'string'
          ? meta.filename
          : `${field === 'output_file_id' ? 'batch_output' : 'batch_errors'}.jsonl`,
      bytes: typeof meta.bytes === 'number' ? meta.bytes : 0,
      expiresAt: typeof meta.expires_at === 'number' ? meta.expires_at : null,
    });
  }

  /** The provider's batch as the caller sees it: unified ids only. */
  private render(
    record: ObjectRecord,
    answer: BatchObject,
    fileMap: Readonly<Record<string, string>>,
  ): BatchObject {
    const out: BatchObject = {};
    for (const [key, value] of Object.entries(answer)) {
      // OpenAI's schema declares these optional, not nullable, while its API sends null: leaving
      // them out satisfies both the schema and the SDKs.
      if (value === null && !REQUIRED_FIELDS.has(key)) continue;
      out[key] = value;
    }
    out.id = this.ids.encode({ kind: 'batch', uid: record.id });
    for (const field of ['input_file_id', ...RESULT_FILE_FIELDS]) {
      const providerFileId = answer[field];
      if (typeof providerFileId === 'string') out[field] = fileMap[providerFileId] ?? null;
    }
    return out;
  }

  /** Deployments that hold the input file, narrowed to `model`'s when the caller names one. */
  private candidates(file: FileRecord, fileId: string, model: unknown): Deployment[] {
    const holders = file.copies.flatMap((c) => {
      const d = c.providerFileId ? this.router.deployment(c.deploymentId) : undefined;
      return d ? [d] : [];
    });
    if (model === undefined || model === null) return holders;
    if (typeof model !== 'string' || this.router.deploymentsOf(model).length === 0) {
      throw new InvalidRequestError(
        `Unknown model ${JSON.stringify(model)}. Known models: ${this.router.modelNames.join(', ')}.`,
        {
          param: 'model',
          code: 'model_not_found',
        },
      );
    }
    const narrowed = holders.filter((d) => d.modelName === model);
    if (narrowed.length === 0) {
      throw new InvalidRequestError(
        `The file '${fileId}' has no copy on a deployment of model '${model}'; it was uploaded for: ${[...new Set(holders.map((d) => d.modelName))].join(', ')}.`,
        { param: 'model', code: 'file_not_on_model' },
      );
    }
    return narrowed;
  }

  private async onDeployment(
    record: ObjectRecord,
    call: ProviderCall,
    signal: AbortSignal,
  ): Promise<BatchObject> {
    const deployment = this.router.deployment(record.deploymentId);
    if (!deployment) {
      throw new InvalidRequestError('This batch runs on a deployment no longer configured.', {
        param: 'batch_id',
        code: 'deployment_gone',
      });
    }
    return asObject((await this.call([deployment], () => call, signal)).reply);
  }

  private async call(
    candidates: readonly Deployment[],
    build: (d: Deployment) => ProviderCall,
    signal: AbortSignal,
  ): Promise<{ deployment: Deployment; reply: unknown }> {
    try {
      const { deployment, reply } = await this.router.callOne(candidates, build, signal);
      return { deployment, reply: reply.kind === 'json' ? reply.body : null };
    } catch (error) {
      throw toCallerError(error);
    }
  }
}

function asObject(value: unknown): BatchObject {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'id' in value) {
    return value;
  }
  throw new UpstreamError('The deployment answered with something that is not a batch.');
}
