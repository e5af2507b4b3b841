import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { CacheKeys } from '../cache/cache-keys';
import { CacheService } from '../cache/cache.service';
import type { Caller } from '../common/auth/caller';
import {
  ApiError,
  InvalidRequestError,
  PayloadTooLargeError,
  UpstreamError,
} from '../common/errors/api-error';
import type { GatewayRequest } from '../common/http/request-context';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { Deployment } from '../config/deployment';
import { InternalRef } from '../id-codec/internal-ref';
import { ProviderError, type ProviderContent } from '../provider-router/provider-client';
import { ProviderRouterService } from '../provider-router/provider-router.service';
import type { PlacedCopy } from '../provider-router/upload-fan-out';
import { isLive, type FileRecord } from './file-record';
import { FilesRepository } from './files.repository';
import {
  canStartEarly,
  parseCreateFileFields,
  type CreateFileFields,
} from './upload/create-file-fields';
import { ClientAbortedError, IncomingUpload } from './upload/incoming-upload';
import { SpoolFile } from './upload/spool-file';
import { taggedFilename } from './upload/upload-tag';

/** Slack for multipart framing when judging a declared Content-Length against the file limit. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;
const HEARTBEAT_MS = 30_000;

/** A file object as the service returns it: ids are InternalRefs, encoded on the way out. */
export interface FileObject {
  id: InternalRef;
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
  first_id: InternalRef | null;
  last_id: InternalRef | null;
  has_more: boolean;
}

export interface FileContent {
  readonly deployment: Deployment;
  readonly content: ProviderContent;
}

@Injectable()
export class FilesService {
  private readonly logger = new Logger(FilesService.name);

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly files: FilesRepository,
    private readonly cache: CacheService,
    private readonly router: ProviderRouterService,
  ) {}

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
    const spool = await SpoolFile.create();
    const upload = new IncomingUpload(request, spool, this.config.maxUploadBytes);
    try {
      return await this.runUpload(upload, spool, caller);
    } catch (error) {
      upload.stop(error instanceof Error ? error : new Error(String(error)));
      throw error;
    } finally {
      await spool.close();
    }
  }

  private async runUpload(
    upload: IncomingUpload,
    spool: SpoolFile,
    caller: Caller,
  ): Promise<FileObject> {
    const fileBegan = await upload.fileStarted;
    if (!(fileBegan && canStartEarly(upload.formFields))) {
      // Fields after the file (the Node SDK's order): the copies start once the body is in.
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
    const expiresAt =
      fields.expiresAfterSeconds === null
        ? null
        : new Date(createdAt.getTime() + fields.expiresAfterSeconds * 1000);
    await this.files.insertPending({
      id,
      ownerUserId: caller.userId,
      ownerTeamId: caller.teamId,
      purpose: fields.purpose,
      filename: file.filename,
      mimeType: file.mimeType,
      expiresAt,
      deploymentIds: deployments.map((d) => d.id),
    });
    const heartbeat = setInterval(() => {
      this.files
        .heartbeat(id)
        .catch((e: Error) => this.logger.warn(`heartbeat ${id}: ${e.message}`));
    }, HEARTBEAT_MS);
    heartbeat.unref();
    try {
      const fanOut = this.router.uploadToAll(
        deployments,
        () => ({
          purpose: fields.purpose,
          filename: taggedFilename(id, file.filename),
          mimeType: file.mimeType,
          expiresAfterSeconds: fields.expiresAfterSeconds,
          openBody: () => spool.createReader(),
        }),
        upload.signal,
      );
      const result = await fanOut;
      const bodyError = await upload.done.then(
        () => null,
        (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
      );
      if (bodyError) {
        await this.abandon(id, result.ok ? result.copies : result.leftOver);
        throw bodyError;
      }
      if (!result.ok) {
        await this.abandon(id, result.leftOver);
        throw this.fanOutError(result.failedDeployment, result.error);
      }
      const record = await this.files.markReady(
        id,
        spool.size,
        result.copies.map((c) => ({ deploymentId: c.deployment.id, providerFileId: c.file.id })),
      );
      this.logger.log(
        `file ${id}: ${spool.size} bytes copied to ${result.copies.length} deployment(s) for ${caller.userId}`,
      );
      return toFileObject(record);
    } catch (error) {
      if (error instanceof ClientAbortedError) {
        this.logger.warn(`file ${id}: client went away mid-upload; upload abandoned`);
      }
      throw error;
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Loads a file by internal id, cache first. Undefined when missing, pending, deleting or expired. */
  async findLive(id: string): Promise<FileRecord | undefined> {
    const record = await this.cache.getOrLoad(
      CacheKeys.managedFile(id),
      this.config.cacheTtlMs,
      async () => {
        const found = await this.files.findById(id);
        // Only settled files are cached: a pending upload changes state soon.
        return found && found.status === 'ready' ? found : undefined;
      },
    );
    return record && isLive(record) ? record : undefined;
  }

  toFileObject(record: FileRecord): FileObject {
    return toFileObject(record);
  }

  async list(
    caller: Caller,
    query: { purpose?: string; limit?: number; order?: 'asc' | 'desc'; after?: string | null },
  ): Promise<FileList> {
    const page = await this.files.listVisible({
      caller,
      purpose: query.purpose ?? null,
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
    const data = page.data.map(toFileObject);
    return {
      object: 'list',
      data,
      first_id: data[0]?.id ?? null,
      last_id: data[data.length - 1]?.id ?? null,
      has_more: page.hasMore,
    };
  }

  /** The content, from the first copy whose deployment answers; later copies are the fallback. */
  async content(record: FileRecord, signal: AbortSignal): Promise<FileContent> {
    let lastError: unknown = null;
    for (const copy of this.orderedCopies(record)) {
      try {
        const content = await this.router
          .clientFor(copy.deployment)
          .fileContent(copy.deployment, copy.file.id, signal);
        return { deployment: copy.deployment, content };
      } catch (error) {
        lastError = error;
        this.logger.warn(
          `file ${record.id}: content from ${copy.deployment.id} failed (${(error as Error).message}); trying the next copy`,
        );
      }
    }
    throw this.upstreamError(`No deployment could serve the content of this file`, lastError);
  }

  /**
   * Deletes every copy concurrently, then the record. Copies that cannot be deleted now are
   * left to the sweeper, with the record hidden (status deleting) in the meantime.
   */
  async delete(record: FileRecord): Promise<void> {
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

  /** Copies in config order, skipping deployments no longer configured. */
  private orderedCopies(record: FileRecord): PlacedCopy[] {
    const order = new Map(this.config.deployments.map((d, i) => [d.id, i]));
    return record.copies
      .flatMap((copy) => {
        const deployment = this.router.deployment(copy.deploymentId);
        return deployment && copy.providerFileId
          ? [
              {
                deployment,
                file: {
                  id: copy.providerFileId,
                  filename: '',
                  purpose: '',
                  bytes: null,
                  createdAt: 0,
                },
              },
            ]
          : [];
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

  /** Drops a failed upload: copies still upstream stay recorded (hidden) for the sweeper. */
  private async abandon(id: string, leftOver: readonly PlacedCopy[]): Promise<void> {
    const stillThere = leftOver.length === 0 ? [] : await this.router.deleteCopies(leftOver);
    try {
      if (stillThere.length === 0) {
        await this.files.delete(id);
      } else {
        await this.files.markDeleting(
          id,
          stillThere.map((c) => ({ deploymentId: c.deployment.id, providerFileId: c.file.id })),
        );
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
    return this.upstreamError(where, error);
  }

  private upstreamError(prefix: string, error: unknown): ApiError {
    if (error instanceof ApiError) {
      return error;
    }
    if (error instanceof ProviderError) {
      const status = error.status === null ? '' : ` with HTTP ${error.status}`;
      return new UpstreamError(`${prefix}: upstream answered${status}: ${error.message}`, {
        timeout: error.timedOut,
      });
    }
    return new UpstreamError(
      `${prefix}: ${error instanceof Error ? error.message : 'unknown error'}`,
    );
  }
}

function toFileObject(record: FileRecord): FileObject {
  return {
    id: new InternalRef({ kind: 'file', uid: record.id, mimeType: record.mimeType }),
    object: 'file',
    bytes: record.bytes,
    created_at: record.createdAt,
    ...(record.expiresAt !== null ? { expires_at: record.expiresAt } : {}),
    filename: record.filename,
    purpose: record.purpose,
    status: 'processed',
  };
}
