import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { Caller } from '../common/auth/caller';
import { InvalidRequestError } from '../common/errors/api-error';
import { deploymentsHoldingEvery, providerFileIdOn } from '../files/file-placement';
import type { FileRecord } from '../files/file-record';
import type { ResolvedRefs } from '../managed-refs/resolved-refs';
import {
  ManagedObjectsService,
  type ObjectKind,
  type ObjectList,
  type ProviderObject,
} from '../managed-objects/managed-objects.service';
import type { ObjectRecord } from '../managed-objects/object-record';
import { ModelCatalogService } from '../models/model-catalog.service';
import type { ProviderCall } from '../provider-router/provider-client';
import { ProviderRouterService } from '../provider-router/provider-router.service';

/** The files a job names: what the caller sends, and what OpenAI requires of each. */
export const JOB_FILE_FIELDS = ['training_file', 'validation_file'] as const;

/**
 * Fine-tuning jobs as a kind of managed object (see ManagedObjectsService); `onAnswer` is
 * bound by the service, which registers succeeded jobs' models.
 */
function fineTuningJob(onAnswer: ObjectKind['onAnswer']): ObjectKind {
  return {
    kind: 'fine_tuning_job',
    idParam: 'fine_tuning_job_id',
    retrieveCall: (id) => ({ operation: 'fine_tuning.jobs.retrieve', id }),
    resultFiles: (answer) =>
      (Array.isArray(answer.result_files) ? answer.result_files : [])
        .filter((id): id is string => typeof id === 'string')
        .map((providerFileId) => ({
          providerFileId,
          purpose: 'fine-tune-results',
          fallbackName: 'step_metrics.csv',
        })),
    render: (answer, id, fileIdOf) => {
      const out: ProviderObject = { ...answer, id };
      for (const field of JOB_FILE_FIELDS) {
        const providerFileId = answer[field];
        if (typeof providerFileId === 'string') out[field] = fileIdOf(providerFileId);
      }
      if (Array.isArray(answer.result_files)) {
        // A result file not registered (yet) is left out rather than shown as a provider id.
        out.result_files = answer.result_files.flatMap((providerFileId: unknown) => {
          const unified = typeof providerFileId === 'string' ? fileIdOf(providerFileId) : null;
          return unified ? [unified] : [];
        });
      }
      return out;
    },
    onAnswer,
  };
}

/**
 * Fine-tuning on managed files: a job runs on one deployment of `model` that holds its training
 * (and validation) file, with both ids rewritten to that deployment's and `model` to its base
 * model. When a job succeeds, its fine-tuned model becomes a model its owner can call.
 */
@Injectable()
export class FineTuningService implements OnModuleInit {
  readonly kind: ObjectKind;

  constructor(
    private readonly objects: ManagedObjectsService,
    private readonly catalog: ModelCatalogService,
    private readonly router: ProviderRouterService,
  ) {
    this.kind = fineTuningJob((record, answer) => this.registerModel(record, answer));
  }

  onModuleInit(): void {
    this.objects.define(this.kind);
  }

  async create(
    body: Record<string, unknown>,
    refs: ResolvedRefs,
    caller: Caller,
    signal: AbortSignal,
  ): Promise<ProviderObject> {
    const files = refs.inBody('file');
    if (!files.some((ref) => ref.field.path === 'training_file')) {
      throw new InvalidRequestError("Missing required parameter: 'training_file'.", {
        param: 'training_file',
        code: 'missing_required_parameter',
      });
    }
    for (const ref of files) {
      const purpose = (ref.record as FileRecord).purpose;
      if (purpose !== 'fine-tune') {
        throw new InvalidRequestError(
          `The ${ref.field.path.replace('_', ' ')} must have purpose 'fine-tune'; '${ref.id}' has purpose '${purpose}'.`,
          { param: ref.field.path, code: 'invalid_file_purpose' },
        );
      }
    }
    // A fine-tuned model the caller may use can be trained further, where it lives.
    const { model, deployments } = await this.catalog.resolve(body.model, caller);
    const candidates = deploymentsHoldingEvery(
      files,
      deployments,
      model,
      (id) => this.router.deployment(id)?.modelName,
    );
    return this.objects.create(
      this.kind,
      candidates,
      files,
      (deployment) => {
        refs.rewrite('file', (ref) => providerFileIdOn(ref.record as FileRecord, deployment));
        return {
          operation: 'fine_tuning.jobs.create',
          body: { ...body, model: deployment.baseModel ?? deployment.upstreamModel },
        };
      },
      caller,
      signal,
    );
  }

  retrieve(record: ObjectRecord, signal: AbortSignal): Promise<ProviderObject> {
    return this.objects.retrieve(this.kind, record, signal);
  }

  /** cancel, pause, resume: answered with the job. */
  act(
    record: ObjectRecord,
    operation: 'fine_tuning.jobs.cancel' | 'fine_tuning.jobs.pause' | 'fine_tuning.jobs.resume',
    signal: AbortSignal,
  ): Promise<ProviderObject> {
    return this.objects.act(this.kind, record, { operation, id: record.providerObjectId }, signal);
  }

  /** events, checkpoints: pages the provider keeps, passed on with unified ids. */
  page(
    record: ObjectRecord,
    operation: 'fine_tuning.jobs.list_events' | 'fine_tuning.jobs.checkpoints.list',
    query: URLSearchParams,
    signal: AbortSignal,
  ): Promise<unknown> {
    const call: ProviderCall = { operation, id: record.providerObjectId, query };
    return this.objects.relay(this.kind, record, call, signal);
  }

  list(
    caller: Caller,
    page: { after: string | null; limit: number; metadata: Record<string, string> },
  ): Promise<ObjectList> {
    return this.objects.list(this.kind, caller, page);
  }

  private async registerModel(record: ObjectRecord, answer: ProviderObject): Promise<void> {
    if (answer.status !== 'succeeded' || typeof answer.fine_tuned_model !== 'string') return;
    await this.catalog.registerFineTuned({
      name: answer.fine_tuned_model,
      deploymentId: record.deploymentId,
      jobId: record.id,
      owner: record.owner,
    });
  }
}
