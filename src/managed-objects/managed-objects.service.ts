import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Caller } from '../common/auth/caller';
import { InvalidRequestError, UpstreamError } from '../common/errors/api-error';
import { replaceAll } from '../common/text/replace-all';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { Deployment } from '../config/deployment';
import { providerFileIdOn } from '../files/file-placement';
import type { FileRecord } from '../files/file-record';
import { FilesService } from '../files/files.service';
import type { UnifiedIdPayload } from '../id-codec/id-codec';
import { IdCodecService } from '../id-codec/id-codec.service';
import { JobsService } from '../jobs/jobs.service';
import type { RefLoader } from '../managed-refs/ref-loader';
import { RefLoaders } from '../managed-refs/ref-loaders';
import type { ResolvedRef } from '../managed-refs/resolved-refs';
import { toCallerError } from '../provider-router/caller-error';
import type { ProviderCall } from '../provider-router/provider-client';
import { noteManagedRefs } from '../observability/request-store';
import { ProviderRouterService } from '../provider-router/provider-router.service';
import type { ManagedObjectKind } from './managed-object.entity';
import { ManagedObjectsRepository } from './managed-objects.repository';
import { TERMINAL_STATUSES, type ObjectRecord } from './object-record';

/** A provider's object (a batch, a fine-tuning job) as JSON. */
export type ProviderObject = Record<string, unknown>;

export interface ObjectList {
  object: 'list';
  data: ProviderObject[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/** A file a provider made for an object (a batch's output, a job's metrics), to register once. */
export interface ResultFile {
  readonly providerFileId: string;
  /** The purpose OpenAI gives such files (`batch_output`, `fine-tune-results`). */
  readonly purpose: string;
  /** Used when the provider will not tell the file's own name. */
  readonly fallbackName: string;
}

/**
 * What makes a kind of managed object: how its provider is asked about one, which files its
 * answers name as results, and how an answer looks to the caller. Batches and FineTuning each
 * define one; everything else (routing by unified id, the store, result files, refreshes) is
 * this service's.
 */
export interface ObjectKind {
  readonly kind: ManagedObjectKind;
  /** `batch_id`, `fine_tuning_job_id`: the parameter named in errors. */
  readonly idParam: string;
  readonly retrieveCall: (providerObjectId: string) => ProviderCall;
  readonly resultFiles: (answer: ProviderObject) => readonly ResultFile[];
  /**
   * The provider's object with unified ids only. `fileIdOf` maps a provider file id the
   * object's answers named to the caller's unified id (null when it was never registered).
   */
  readonly render: (
    answer: ProviderObject,
    id: string,
    fileIdOf: (providerFileId: string) => string | null,
  ) => ProviderObject;
  /** Runs after every answer is stored (a succeeded job's model becomes routable). */
  readonly onAnswer?: (record: ObjectRecord, answer: ProviderObject) => Promise<void>;
}

interface RefreshJob {
  readonly objectId: string;
}

/**
 * Provider-minted objects that live on one deployment: created on a deployment that holds
 * every input file, stored under a uuid the caller sees as a signed unified id, routed back to
 * that deployment by it, answered from the store once terminal, with result files registered
 * once as managed files of the owner, and refreshed in the background while running (so
 * results appear even when nobody polls).
 */
@Injectable()
export class ManagedObjectsService {
  private readonly logger = new Logger(ManagedObjectsService.name);
  private readonly kinds = new Map<ManagedObjectKind, ObjectKind>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly objects: ManagedObjectsRepository,
    private readonly files: FilesService,
    private readonly router: ProviderRouterService,
    private readonly ids: IdCodecService,
    private readonly loaders: RefLoaders,
    private readonly jobs: JobsService,
  ) {}

  /**
   * Makes a kind's unified ids resolvable (its RefLoader) and starts its background refresh: a
   * periodic pass queues one job per running object, deduplicated by object id (replicas never
   * both refresh one object in a cycle); each job is retried on its own, so one failing
   * provider does not hold the others up.
   */
  define(spec: ObjectKind): void {
    this.kinds.set(spec.kind, spec);
    const loader: RefLoader<ObjectRecord> = {
      kind: spec.kind,
      loadMany: (payloads: readonly UnifiedIdPayload[]) => this.loadMany(spec.kind, payloads),
    };
    this.loaders.register(loader);
    const queue = spec.kind.replace(/_/g, '-');
    const one = `${queue}-refresh`;
    this.jobs.schedule(`${queue}-refresh-pass`, this.config.refreshIntervalMs, async () => {
      for (const objectId of await this.objects.unfinished(spec.kind, TERMINAL_STATUSES, 500)) {
        await this.jobs.send<RefreshJob>(one, { objectId }, { singletonKey: objectId });
      }
    });
    this.jobs.work<RefreshJob>(one, (job) => this.refreshInBackground(spec, job.data, job.signal), {
      retryLimit: 5,
      retryDelayMs: 5_000,
    });
  }

  private async loadMany(
    kind: ManagedObjectKind,
    payloads: readonly UnifiedIdPayload[],
  ): Promise<ReadonlyMap<string, ObjectRecord>> {
    const records = await this.objects.findByIds(payloads.map((p) => p.uid));
    return new Map(records.filter((r) => r.kind === kind).map((r) => [r.id, r]));
  }

  /** One object, as the system: its owner's result files are registered, nothing else widened. */
  private async refreshInBackground(
    spec: ObjectKind,
    job: RefreshJob,
    signal: AbortSignal,
  ): Promise<void> {
    const [record] = await this.objects.findByIds([job.objectId]);
    if (!record || record.kind !== spec.kind || TERMINAL_STATUSES.includes(record.status)) return;
    await this.retrieve(spec, record, signal);
  }

  /**
   * Creates the object on one of `candidates` (one failover) and stores it for `caller`.
   * `inputs` are the managed files the call names: `build` writes each one's provider id on
   * the chosen deployment (`providerFileIdOn`), and they stay in use (undeletable) until the
   * object is terminal.
   */
  async create(
    spec: ObjectKind,
    candidates: readonly Deployment[],
    inputs: readonly ResolvedRef[],
    build: (deployment: Deployment) => ProviderCall,
    caller: Caller,
    signal: AbortSignal,
  ): Promise<ProviderObject> {
    const { deployment, answer } = await this.call(spec, candidates, build, signal);
    const fileMap: Record<string, string> = {};
    for (const input of inputs) {
      fileMap[providerFileIdOn(input.record as FileRecord, deployment)] = input.id;
    }
    const record = await this.objects.register({
      id: randomUUID(),
      kind: spec.kind,
      deploymentId: deployment.id,
      providerObjectId: String(answer.id),
      owner: { userId: caller.userId, teamId: caller.teamId },
      status: String(answer.status),
      providerObject: answer,
      fileIds: [...new Set(inputs.map((i) => i.payload.uid))],
      fileMap,
    });
    const created = await this.stored(spec, record, answer);
    noteManagedRefs([String(created.id)]);
    return created;
  }

  /** A terminal object from the store; otherwise its provider's answer, which updates the store. */
  async retrieve(
    spec: ObjectKind,
    record: ObjectRecord,
    signal: AbortSignal,
  ): Promise<ProviderObject> {
    if (TERMINAL_STATUSES.includes(record.status)) {
      return this.render(spec, record, record.providerObject, record.fileMap);
    }
    return this.act(spec, record, spec.retrieveCall(record.providerObjectId), signal);
  }

  /** A call on the object's deployment that answers the object (cancel, pause, resume). */
  async act(
    spec: ObjectKind,
    record: ObjectRecord,
    call: ProviderCall,
    signal: AbortSignal,
  ): Promise<ProviderObject> {
    const { answer } = await this.call(spec, [this.deploymentOf(spec, record)], () => call, signal);
    return this.stored(spec, record, answer);
  }

  /**
   * A call on the object's deployment whose answer is passed on (a job's events, its
   * checkpoints), with every provider id the object is known by replaced by the caller's.
   */
  async relay(
    spec: ObjectKind,
    record: ObjectRecord,
    call: ProviderCall,
    signal: AbortSignal,
  ): Promise<unknown> {
    const deployment = this.deploymentOf(spec, record);
    const { reply } = await this.send([deployment], () => call, signal);
    const ids = new Map<string, string>(Object.entries(record.fileMap));
    ids.set(record.providerObjectId, this.ids.encode({ kind: spec.kind, uid: record.id }));
    return JSON.parse(replaceAll(JSON.stringify(reply), ids)) as unknown;
  }

  async list(
    spec: ObjectKind,
    caller: Caller,
    page: {
      readonly after: string | null;
      readonly limit: number;
      readonly metadata?: Readonly<Record<string, string>>;
    },
  ): Promise<ObjectList> {
    const found = await this.objects.listVisible({
      kind: spec.kind,
      caller,
      after: page.after,
      limit: page.limit,
      contains:
        page.metadata && Object.keys(page.metadata).length > 0
          ? { metadata: page.metadata }
          : undefined,
    });
    const data = found.data.map((r) => this.render(spec, r, r.providerObject, r.fileMap));
    return {
      object: 'list',
      data,
      first_id: (data[0]?.id as string | undefined) ?? null,
      last_id: (data[data.length - 1]?.id as string | undefined) ?? null,
      has_more: found.hasMore,
    };
  }

  /**
   * Stores the provider's answer, registering result files it names for the first time as
   * managed files of the owner (idempotent: concurrent retrieves converge on one record).
   */
  private async stored(
    spec: ObjectKind,
    record: ObjectRecord,
    answer: ProviderObject,
  ): Promise<ProviderObject> {
    const deployment = this.router.deployment(record.deploymentId);
    const learnt: Record<string, string> = {};
    // A deployment no longer configured cannot serve result files: they are not registered.
    if (deployment) {
      for (const result of spec.resultFiles(answer)) {
        if (record.fileMap[result.providerFileId] || learnt[result.providerFileId]) continue;
        learnt[result.providerFileId] = await this.registerResult(record, deployment, result);
      }
    }
    await this.objects.update(record.id, String(answer.status), answer, learnt);
    await spec.onAnswer?.(record, answer);
    return this.render(spec, record, answer, { ...record.fileMap, ...learnt });
  }

  private async registerResult(
    record: ObjectRecord,
    deployment: Deployment,
    result: ResultFile,
  ): Promise<string> {
    let meta: ProviderObject = {};
    try {
      const { reply } = await this.router.callOne([deployment], () => ({
        operation: 'files.retrieve',
        id: result.providerFileId,
      }));
      if (reply.kind === 'json' && isObject(reply.body)) meta = reply.body;
    } catch (error) {
      // The file is registered all the same: its content is served from the provider.
      this.logger.warn(
        `${record.kind} ${record.id}: metadata of a result file unavailable: ${(error as Error).message}`,
      );
    }
    return this.files.registerResultFile({
      deployment,
      providerFileId: result.providerFileId,
      owner: record.owner,
      purpose: result.purpose,
      filename: typeof meta.filename === 'string' ? meta.filename : result.fallbackName,
      bytes: typeof meta.bytes === 'number' ? meta.bytes : 0,
      expiresAt: typeof meta.expires_at === 'number' ? meta.expires_at : null,
    });
  }

  private render(
    spec: ObjectKind,
    record: ObjectRecord,
    answer: ProviderObject,
    fileMap: Readonly<Record<string, string>>,
  ): ProviderObject {
    return spec.render(
      answer,
      this.ids.encode({ kind: spec.kind, uid: record.id }),
      (providerFileId) => fileMap[providerFileId] ?? null,
    );
  }

  private deploymentOf(spec: ObjectKind, record: ObjectRecord): Deployment {
    const deployment = this.router.deployment(record.deploymentId);
    if (!deployment) {
      throw new InvalidRequestError(
        `This ${this.ids.noun(spec.kind)} runs on a deployment no longer configured.`,
        { param: spec.idParam, code: 'deployment_gone' },
      );
    }
    return deployment;
  }

  /** A call whose answer must be an object of the kind (it has an `id`). */
  private async call(
    spec: ObjectKind,
    candidates: readonly Deployment[],
    build: (d: Deployment) => ProviderCall,
    signal: AbortSignal,
  ): Promise<{ deployment: Deployment; answer: ProviderObject }> {
    const { deployment, reply } = await this.send(candidates, build, signal);
    if (!isObject(reply) || typeof reply.id !== 'string') {
      throw new UpstreamError(
        `The deployment answered with something that is not a ${this.ids.noun(spec.kind)}.`,
      );
    }
    return { deployment, answer: reply };
  }

  private async send(
    candidates: readonly Deployment[],
    build: (d: Deployment) => ProviderCall,
    signal: AbortSignal,
  ): Promise<{ deployment: Deployment; reply: unknown }> {
    try {
      const { deployment, reply } = await this.router.callOne(candidates, build, signal);
      if (reply.kind !== 'json') {
        reply.body.destroy();
        throw new UpstreamError('The deployment answered with something that is not JSON.');
      }
      return { deployment, reply: reply.body };
    } catch (error) {
      throw toCallerError(error);
    }
  }
}

function isObject(value: unknown): value is ProviderObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
