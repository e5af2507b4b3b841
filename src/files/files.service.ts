import { createHash, randomUUID } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { CacheKeys } from '../cache/cache-keys';
import { CacheService } from '../cache/cache.service';
import type { Caller } from '../common/auth/caller';
import { BufferPool } from '../common/memory/buffer-pool';
import {
  holdYoungGeneration,
  RELEASE_GARBAGE_AFTER_BYTES,
  releaseGarbageOnceIdle,
} from '../common/memory/gc';
import {
  ApiError,
  ClientClosedRequestError,
  ConflictError,
  InvalidRequestError,
  NotFoundError,
  PayloadTooLargeError,
  UpstreamError,
} from '../common/errors/api-error';
import type { GatewayRequest } from '../common/http/request-context';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { Deployment } from '../config/deployment';
import type { UnifiedIdPayload } from '../id-codec/id-codec';
import { IdCodecService } from '../id-codec/id-codec.service';
import { normalizeMimeType } from '../id-codec/mime-types';
import { DrainService } from '../lifecycle/drain.service';
import type { RefLoader } from '../managed-refs/ref-loader';
import { ManagedObjectsRepository } from '../managed-objects/managed-objects.repository';
import { TERMINAL_STATUSES } from '../managed-objects/object-record';
import type { Owner } from '../common/auth/ownership';
import { RefLoaders } from '../managed-refs/ref-loaders';
import { MetricsService } from '../observability/metrics.service';
import { noteManagedRefs } from '../observability/request-store';
import { ProviderError, type ProviderContent } from '../provider-router/provider-client';
import { ProviderRouterService } from '../provider-router/provider-router.service';
import { copyOf, type PlacedCopy, type UnansweredCopy } from '../provider-router/upload-fan-out';
import { isLive, type FileRecord } from './file-record';
import { FilesRepository } from './files.repository';
import {
  canStartEarly,
  parseCreateFileFields,
  type CreateFileFields,
  type FormFields,
} from './upload/create-file-fields';
import { BatchFileIds } from './upload/batch-file-ids';
import { BatchFileCheck, BatchFileError, batchLineRewriter } from './upload/batch-jsonl';
import { DEFAULT_BATCH_LIMITS } from './upload/batch-limits';
import { IncomingUpload } from './upload/incoming-upload';
import { READ_CHUNK_BYTES, SpoolFile } from './upload/spool-file';
import { isCopyOf, taggedFilename } from './upload/upload-tag';

/** Slack for multipart framing when judging a declared Content-Length against the file limit. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
const HEARTBEAT_MS = 30_000;
/**
 * Room in a batch copy's output buffer beyond a spool chunk: the end of the line the previous
 * chunk cut, and longer values spliced in. An output that does not fit is allocated fresh.
 */
const BATCH_OUTPUT_SLACK_BYTES = 256 * 1024;

/** A file object as the API answers it. */
export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  expires_at?: number;
  filename: string;
  purpose: string;
  status: 'processed';
}

export interface FileList {
  object: 'list';
  data: FileObject[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/** A provider-made file to register (see registerResultFile). */
export interface ResultFile {
  readonly deployment: Deployment;
  readonly providerFileId: string;
  readonly owner: Owner;
  readonly purpose: string;
  readonly filename: string;
  readonly bytes: number;
  readonly expiresAt: number | null;
}

export interface FileContent {
  readonly deployment: Deployment;
  readonly content: ProviderContent;
}

@Injectable()
export class FilesService implements RefLoader<FileRecord>, OnModuleInit, OnApplicationShutdown {
  readonly kind = 'file' as const;
  private readonly logger = new Logger(FilesService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly files: FilesRepository,
    private readonly cache: CacheService,
    private readonly router: ProviderRouterService,
    private readonly drain: DrainService,
    private readonly ids: IdCodecService,
    private readonly loaders: RefLoaders,
    private readonly objects: ManagedObjectsRepository,
    @Optional() private readonly metrics?: MetricsService,
  ) {}

  onModuleInit(): void {
    this.loaders.register(this);
  }

  /** The spool files kept for later uploads (SpoolFile.close) are not needed any more. */
  async onApplicationShutdown(): Promise<void> {
    await SpoolFile.closeIdle();
  }

  /**
   * `POST /v1/files`: streams the body to every deployment of the target models at once and
   * answers one unified id — or, if any copy fails, removes the others and answers 502.
   */
  async create(request: GatewayRequest, caller: Caller): Promise<FileObject> {
    this.refuseOversizedBody(request);
    if (!/^multipart\/form-data/i.test(request.headers['content-type'] ?? '')) {
      throw new InvalidRequestError(
        'Expected a multipart/form-data body with a file and a purpose.',
        {
          code: 'invalid_content_type',
        },
      );
    }
    const spool = await SpoolFile.create({
      onWrite: (bytes, seconds) => this.metrics?.spoolWrite(bytes, seconds),
    });
    // No growth of the young generation for an upload's scavenges (see holdYoungGeneration).
    const releaseHold = holdYoungGeneration();
    const upload = new IncomingUpload(request, spool, this.config.maxUploadBytes);
    // Past the drain limit on shutdown, an upload still running gives up and removes its copies.
    const onShutdown = (): void => upload.stop(this.drain.abandonSignal.reason as Error);
    this.drain.abandonSignal.addEventListener('abort', onShutdown, { once: true });
    try {
      return await this.runUpload(upload, spool, caller);
    } catch (error) {
      upload.stop(error instanceof Error ? error : new Error(String(error)));
      if (error instanceof ClientClosedRequestError) {
        // A normal event, not a fault: one line, and the copies are already removed.
        this.logger.warn('client went away mid-upload; upload abandoned');
      }
      throw error;
    } finally {
      this.drain.abandonSignal.removeEventListener('abort', onShutdown);
      await spool.close();
      if (spool.size >= RELEASE_GARBAGE_AFTER_BYTES) releaseGarbageOnceIdle();
      releaseHold();
    }
  }

  private async runUpload(
    upload: IncomingUpload,
    spool: SpoolFile,
    caller: Caller,
  ): Promise<FileObject> {
    const fileBegan = await upload.fileStarted;
    // With purpose and targets ahead of the file the copies start while the body still arrives;
    // otherwise (the Node SDK puts the file first) they start once the body is in.
    const startedEarly = fileBegan && canStartEarly(upload.formFields);
    if (!startedEarly) {
      await upload.done;
    }
    const file = upload.file;
    if (!file) {
      throw new InvalidRequestError("Missing required parameter: 'file'.", {
        param: 'file',
        code: 'missing_required_parameter',
      });
    }
    const fields = parseCreateFileFields(upload.formFields);
    const deployments = this.targetsFor(fields);
    const id = randomUUID();
    const createdAt = new Date();
    await this.files.insertPending({
      id,
      ownerUserId: caller.userId,
      ownerTeamId: caller.teamId,
      purpose: fields.purpose,
      filename: file.filename,
      mimeType: file.mimeType,
      publicId: encodeFileId(this.ids, id, file.mimeType),
      expiresAt: expiryFrom(createdAt, fields.expiresAfterSeconds),
      deploymentIds: deployments.map((d) => d.id),
    });
    const heartbeat = setInterval(() => {
      this.files
        .heartbeat(id)
        .catch((e: Error) => this.logger.warn(`heartbeat ${id}: ${e.message}`));
    }, HEARTBEAT_MS);
    heartbeat.unref();
    const batch =
      fields.purpose === 'batch' ? this.batchRewrite(fields, caller, upload, spool) : null;
    try {
      const result = await this.router.uploadToAll(
        deployments,
        (deployment) => ({
          purpose: fields.purpose,
          filename: taggedFilename(id, file.filename),
          mimeType: file.mimeType,
          expiresAfterSeconds: fields.expiresAfterSeconds,
          openBody: () =>
            batch ? batch.open(deployment, spool.createReader()) : spool.createReader(),
          // A batch copy sends its rewriter's output, which goes back to the rewriters' pool.
          giveBack: batch ? (chunk) => batch.giveBack(chunk) : (chunk) => spool.giveBack(chunk),
        }),
        upload.signal,
      );
      const placed = result.ok ? result.copies : result.leftOver;
      let final: CreateFileFields;
      try {
        await upload.done;
        // Fields that came after the file are known only now.
        final = startedEarly ? this.lateFields(upload.formFields, fields, deployments) : fields;
      } catch (error) {
        await this.abandon(id, placed, result.unanswered);
        throw error;
      }
      if (!result.ok) {
        await this.abandon(id, placed, result.unanswered);
        throw batch?.failure ?? this.fanOutError(result.failedDeployment, result.error);
      }
      await this.removeDuplicates(id, result.copies, result.unanswered);
      const record = await this.files.markReady(
        id,
        spool.size,
        result.copies.map((c) => ({ deploymentId: c.deployment.id, providerFileId: c.file.id })),
        earliestExpiry(expiryFrom(createdAt, final.expiresAfterSeconds), result.copies),
      );
      const created = toFileObject(record, this.ids);
      // The id the caller will use, on this request's access line and in this one.
      noteManagedRefs([created.id]);
      this.logger.log(
        `file ${created.id}: ${spool.size} bytes copied to ${result.copies.length} deployment(s) for ${caller.userId}`,
      );
      return created;
    } finally {
      clearInterval(heartbeat);
      batch?.close();
    }
  }

  /**
   * A batch input file reaches each deployment rewritten for it (batch-jsonl.ts): every line's
   * `body.model` becomes the deployment's upstream model (Azure: its deployment), managed file
   * ids its own provider ids. A line that fails validation fails every copy at once with a 400
   * naming the line; it is not an upstream failure to retry.
   */
  private batchRewrite(
    fields: CreateFileFields,
    caller: Caller,
    upload: IncomingUpload,
    spool: SpoolFile,
  ): {
    open(deployment: Deployment, body: Readable): Readable;
    giveBack(chunk: Buffer): void;
    close(): void;
    readonly failure: Error | null;
  } {
    const targets = new Set(fields.targetModelNames ?? this.config.defaultTargetModels);
    const fileIds = new BatchFileIds(caller, this.ids, (payloads) => this.loadMany(payloads));
    // One check of every line for all copies: each copy only splices in its own values. The
    // managed file ids it finds are looked up as it finds them, once per upload.
    const check = new BatchFileCheck(
      DEFAULT_BATCH_LIMITS,
      (model) => targets.has(model),
      (unifiedId) => fileIds.want(unifiedId),
    );
    const state: { failure: Error | null } = { failure: null };
    // The copies' output: about one spool chunk per input chunk, a little more or less as the
    // values spliced in are longer or shorter than the ones they replace.
    const output = new BufferPool(READ_CHUNK_BYTES + BATCH_OUTPUT_SLACK_BYTES, 16);
    return {
      get failure() {
        return state.failure;
      },
      giveBack: (chunk) => output.giveBack(chunk),
      close: () => output.close(),
      open: (deployment, body) =>
        pipeline(
          body,
          batchLineRewriter({
            modelFor: (model) => (targets.has(model) ? deployment.upstreamModel : undefined),
            fileIdFor: (unifiedId) => fileIds.providerIdFor(deployment.id, unifiedId),
            fileIdsSettled: () => fileIds.settled(),
            check,
            giveBack: (chunk) => spool.giveBack(chunk),
            output,
          }),
          (error) => {
            if (error instanceof BatchFileError && state.failure === null) {
              state.failure = error;
              upload.stop(error);
            }
          },
        ),
    };
  }

  /**
   * The fields once the whole body is in, for an upload whose copies started at the file part.
   * Fields that arrive late may set the expiry; they may not change where the copies went.
   */
  private lateFields(
    form: FormFields,
    started: CreateFileFields,
    deployments: readonly Deployment[],
  ): CreateFileFields {
    const final = parseCreateFileFields(form);
    if (final.purpose !== started.purpose) {
      throw new InvalidRequestError(
        "'purpose' was sent twice with different values; send it once, before the file.",
        { param: 'purpose', code: 'invalid_value' },
      );
    }
    const targets = this.targetsFor(final).map((d) => d.id);
    if (targets.join() !== deployments.map((d) => d.id).join()) {
      throw new InvalidRequestError(
        "'target_model_names' changed after the file part; send all target models before the file.",
        { param: 'target_model_names', code: 'invalid_value' },
      );
    }
    return final;
  }

  /**
   * A deployment whose first attempt went unanswered may hold a second copy beside the one
   * kept (the first attempt's, stored after all): found by the upload's tag and deleted now.
   */
  private async removeDuplicates(
    id: string,
    copies: readonly PlacedCopy[],
    unanswered: readonly UnansweredCopy[],
  ): Promise<void> {
    await Promise.all(
      unanswered.map(async ({ deployment }) => {
        const kept = copies.find((c) => c.deployment.id === deployment.id)?.file.id ?? null;
        if (!(await this.removeTagged(id, deployment, kept))) {
          this.logger.warn(`file ${id}: a duplicate copy on ${deployment.id} may remain`);
        }
      }),
    );
  }

  /** Deletes the copies of upload `id` found on a deployment by tag, but `keep`. False if unsure. */
  private async removeTagged(
    id: string,
    deployment: Deployment,
    keep: string | null,
  ): Promise<boolean> {
    try {
      return await this.router.deleteMatching(deployment, (name) => isCopyOf(name, id), keep);
    } catch (error) {
      this.logger.warn(
        `file ${id}: searching ${deployment.id} failed: ${(error as Error).message}`,
      );
      return false;
    }
  }

  /**
   * The live files named by a request, cache first (one multi-get), then one query for the
   * misses. Pending, deleting and expired files are left out: to the caller they do not exist.
   */
  async loadMany(payloads: readonly UnifiedIdPayload[]): Promise<ReadonlyMap<string, FileRecord>> {
    const ids = [...new Set(payloads.map((p) => p.uid))];
    const found = await this.cache.getOrLoadMany(
      ids,
      CacheKeys.managedFile,
      this.config.cacheTtlMs,
      async (missing) => {
        const records = await this.files.findByIds(missing);
        // Only settled files are cached: a pending upload changes state soon.
        return new Map(records.filter((r) => r.status === 'ready').map((r) => [r.id, r]));
      },
    );
    for (const [id, record] of found) {
      if (!isLive(record)) found.delete(id);
    }
    return found;
  }

  toFileObject(record: FileRecord): FileObject {
    return toFileObject(record, this.ids);
  }

  async list(
    caller: Caller,
    query: {
      purpose?: string;
      target_model_names?: readonly string[];
      limit?: number;
      order?: 'asc' | 'desc';
      after?: string | null;
    },
  ): Promise<FileList> {
    const names = query.target_model_names;
    const page = await this.files.listVisible({
      caller,
      purpose: query.purpose ?? null,
      deploymentIds: names
        ? this.router.resolveTargets(names, 'target_model_names').map((d) => d.id)
        : null,
      limit: query.limit ?? 10_000,
      order: query.order ?? 'desc',
      after: query.after ?? null,
    });
    if (!page.cursorFound) {
      throw new InvalidRequestError(`Invalid 'after': no such file.`, {
        param: 'after',
        code: 'invalid_cursor',
      });
    }
    const data = page.data.map((record) => toFileObject(record, this.ids));
    return {
      object: 'list',
      data,
      first_id: data[0]?.id ?? null,
      last_id: data[data.length - 1]?.id ?? null,
      has_more: page.hasMore,
    };
  }

  /**
   * The content, from the first copy whose deployment answers; later copies are the fallback.
   * When none can serve it, the error names deployments and statuses only: upstream messages
   * quote provider file ids, which never reach callers.
   */
  async content(record: FileRecord, signal: AbortSignal): Promise<FileContent> {
    const failures: Array<{ deployment: Deployment; error: unknown }> = [];
    for (const copy of this.orderedCopies(record)) {
      try {
        const content = await this.router
          .clientFor(copy.deployment)
          .fileContent(copy.deployment, copy.file.id, signal);
        return { deployment: copy.deployment, content };
      } catch (error) {
        failures.push({ deployment: copy.deployment, error });
        this.logger.warn(
          `file ${record.id}: content from ${copy.deployment.id} failed (${(error as Error).message}); trying the next copy`,
        );
      }
    }
    if (failures.every((f) => f.error instanceof ProviderError && f.error.notFound)) {
      // Every deployment says the copy is gone (expired or deleted upstream).
      throw new NotFoundError('No copy of this file is left upstream.', { param: 'file_id' });
    }
    const summary = failures
      .map(({ deployment, error }) => `${deployment.id}: ${failureSummary(error)}`)
      .join('; ');
    throw new UpstreamError(`No deployment could serve the content of this file (${summary}).`, {
      timeout: failures.every((f) => f.error instanceof ProviderError && f.error.timedOut),
    });
  }

  /**
   * Deletes every copy concurrently, then the record. Copies that cannot be deleted now are
   * left to the sweeper, with the record hidden (status deleting) in the meantime.
   */
  async delete(record: FileRecord): Promise<void> {
    const users = await this.objects.usingFile(record.id, TERMINAL_STATUSES);
    if (users.length > 0) {
      const names = users.map((o) => this.ids.encode({ kind: o.kind, uid: o.id })).join(', ');
      throw new ConflictError(
        `The file is in use by ${users[0].kind === 'batch' ? 'batch' : 'fine-tuning job'} ${names} (status ${users[0].status}); delete it once that has finished, or cancel it.`,
        { param: 'file_id', code: 'file_in_use' },
      );
    }
    const copies = this.orderedCopies(record);
    const failed = await this.router.deleteCopies(copies);
    if (failed.length === 0) {
      await this.files.delete(record.id);
    } else {
      await this.files.markDeleting(
        record.id,
        failed.map((c) => ({ deploymentId: c.deployment.id, providerFileId: c.file.id })),
      );
      this.logger.warn(
        `file ${record.id}: ${failed.length} cop(ies) left for the sweeper to delete`,
      );
    }
    await this.cache.del(CacheKeys.managedFile(record.id));
  }

  /**
   * Registers a file a provider made (a batch's output, a job's results) as a managed file of
   * the object's owner, with its one copy. Idempotent: the id is derived from the deployment and
   * the provider's id, so concurrent registrations of one file converge on one record.
   */
  async registerResultFile(file: ResultFile): Promise<string> {
    const uid = resultFileUid(file.deployment.id, file.providerFileId);
    const mimeType = 'application/jsonl';
    const publicId = encodeFileId(this.ids, uid, mimeType);
    await this.files.insertRegistered({
      id: uid,
      ownerUserId: file.owner.userId,
      ownerTeamId: file.owner.teamId,
      purpose: file.purpose,
      filename: file.filename,
      mimeType,
      publicId,
      bytes: file.bytes,
      expiresAt: file.expiresAt === null ? null : new Date(file.expiresAt * 1000),
      deploymentId: file.deployment.id,
      providerFileId: file.providerFileId,
    });
    return publicId;
  }

  /** Copies in config order, skipping deployments no longer configured. */
  private orderedCopies(record: FileRecord): PlacedCopy[] {
    const order = new Map(this.config.deployments.map((d, i) => [d.id, i]));
    return record.copies
      .flatMap((copy) => {
        const deployment = this.router.deployment(copy.deploymentId);
        return deployment && copy.providerFileId ? [copyOf(deployment, copy.providerFileId)] : [];
      })
      .sort((a, b) => (order.get(a.deployment.id) ?? 0) - (order.get(b.deployment.id) ?? 0));
  }

  private targetsFor(fields: CreateFileFields): Deployment[] {
    const names = fields.targetModelNames ?? this.config.defaultTargetModels;
    if (names.length === 0) {
      throw new InvalidRequestError(
        `Missing 'target_model_names': name the models whose deployments should get this file ` +
          `(comma-separated). Known models: ${this.router.modelNames.join(', ')}.`,
        { param: 'target_model_names', code: 'missing_required_parameter' },
      );
    }
    return this.router.resolveTargets(names, 'target_model_names');
  }

  /**
   * Drops a failed upload. Copies that could not be deleted, and deployments that never answered
   * and may still store a copy whose id we never saw, stay recorded under the hidden record: the
   * sweeper finds the latter by the upload's tag once they have had time to land.
   */
  private async abandon(
    id: string,
    placed: readonly PlacedCopy[],
    unanswered: readonly UnansweredCopy[],
  ): Promise<void> {
    const unsure = new Set(unanswered.map((u) => u.deployment.id));
    const [undeleted, searched] = await Promise.all([
      placed.length === 0 ? [] : this.router.deleteCopies(placed),
      Promise.all(unanswered.map((u) => this.removeTagged(id, u.deployment, null))),
    ]);
    const remaining = [
      ...undeleted
        .filter((c) => !unsure.has(c.deployment.id))
        .map((c) => ({ deploymentId: c.deployment.id, providerFileId: c.file.id })),
      ...unanswered
        .filter((u, i) => u.mayStillLand || !searched[i])
        .map((u) => ({ deploymentId: u.deployment.id, providerFileId: null })),
    ];
    try {
      if (remaining.length === 0) {
        await this.files.delete(id);
      } else {
        await this.files.markDeleting(id, remaining);
      }
    } catch (error) {
      // The pending row stays; its heartbeat stops, and the sweeper finishes the job.
      this.logger.error(
        `file ${id}: could not drop the failed upload: ${(error as Error).message}`,
      );
    }
  }

  private refuseOversizedBody(request: GatewayRequest): void {
    const declared = Number(request.headers['content-length']);
    if (
      Number.isFinite(declared) &&
      declared > this.config.maxUploadBytes + MULTIPART_OVERHEAD_BYTES
    ) {
      throw new PayloadTooLargeError(
        `Request body of ${declared} bytes exceeds the ${this.config.maxUploadBytes}-byte file limit.`,
        { param: 'file', headers: { connection: 'close' } },
      );
    }
  }

  private fanOutError(deployment: Deployment | null, error: Error): ApiError {
    if (error instanceof ApiError) {
      return error;
    }
    const where = deployment
      ? `Upload to deployment '${deployment.id}' (model '${deployment.modelName}') failed`
      : 'Upload failed';
    if (error instanceof ProviderError) {
      const status = error.status === null ? '' : ` with HTTP ${error.status}`;
      return new UpstreamError(`${where}: upstream answered${status}: ${error.message}`, {
        timeout: error.timedOut,
      });
    }
    return new UpstreamError(`${where}: ${error.message}`);
  }
}

/** What went wrong on one deployment, without the upstream's own words. */
function failureSummary(error: unknown): string {
  if (!(error instanceof ProviderError)) return 'failed';
  if (error.timedOut) return 'timed out';
  if (error.status === null) return 'no answer';
  return `HTTP ${error.status}${error.code ? ` (${error.code})` : ''}`;
}

function expiryFrom(createdAt: Date, seconds: number | null): Date | null {
  return seconds === null ? null : new Date(createdAt.getTime() + seconds * 1000);
}

/**
 * The file expires no later than its first copy does (OpenAI drops batch files after 30 days
 * by default; Azure copies always carry an expiry), so a live id never points at nothing.
 */
function earliestExpiry(requested: Date | null, copies: readonly PlacedCopy[]): Date | null {
  let earliest = requested?.getTime() ?? Infinity;
  for (const copy of copies) {
    if (copy.file.expiresAt !== null) {
      earliest = Math.min(earliest, copy.file.expiresAt * 1000);
    }
  }
  return Number.isFinite(earliest) ? new Date(earliest) : null;
}

/** A UUID (version 8, RFC 9562) derived from where the provider keeps the file. */
function resultFileUid(deploymentId: string, providerFileId: string): string {
  const hex = createHash('sha256')
    .update(JSON.stringify(['result-file', deploymentId, providerFileId]))
    .digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function encodeFileId(ids: IdCodecService, uid: string, mimeType: string): string {
  // Normalised again here: a row stored before uploads were normalised must not break a list.
  return ids.encode({ kind: 'file', uid, mimeType: normalizeMimeType(mimeType) });
}

/**
 * The API's file object. The id was encoded once at upload and stored, so mapping a page costs
 * no HMAC; rows from before that are encoded here.
 */
function toFileObject(record: FileRecord, ids: IdCodecService): FileObject {
  const id = record.publicId ?? encodeFileId(ids, record.id, record.mimeType);
  // Two literals rather than a conditional spread: a list page maps 10,000 of these, and both
  // keep OpenAI's key order.
  if (record.expiresAt === null) {
    return {
      id,
      object: 'file',
      bytes: record.bytes,
      created_at: record.createdAt,
      filename: record.filename,
      purpose: record.purpose,
      status: 'processed',
    };
  }
  return {
    id,
    object: 'file',
    bytes: record.bytes,
    created_at: record.createdAt,
    expires_at: record.expiresAt,
    filename: record.filename,
    purpose: record.purpose,
    status: 'processed',
  };
}
