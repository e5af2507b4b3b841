import type { FileStore } from './file-store';
import { badRequest, notFound } from './http-errors';
import { isRecord, nowSeconds, optionalString, requiredString } from './http-io';
import { newFileId, newJobId } from './ids';
import { stepsElapsed, stepStart, TimedEngine } from './lifecycle';
import type { Dialect } from './types';

type JobStatus = 'validating_files' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

interface JobOutcome {
  status: 'succeeded' | 'failed';
  atMs: number;
  resultFileId: string | null;
  trainedTokens: number | null;
  error: { code: string; message: string; param: string | null } | null;
}

interface JobRecord {
  id: string;
  model: string;
  trainingFile: string;
  validationFile: string | null;
  suffix: string | null;
  seed: number;
  hyperparameters: Record<string, unknown>;
  methodType: string;
  integrations: unknown[] | null;
  metadata: Record<string, unknown> | null;
  createdMs: number;
  cancelledMs: number | null;
  outcome: JobOutcome | null;
  finishing: Promise<void> | null;
}

const QUEUED_STEP = 1;
const RUNNING_STEP = 2;
const DONE_STEP = 3;
const DEFAULT_HYPERPARAMETERS = {
  batch_size: 'auto',
  learning_rate_multiplier: 'auto',
  n_epochs: 'auto',
};
// What OpenAI reports once a job runs and 'auto' has been resolved.
const RESOLVED_HYPERPARAMETERS = { batch_size: 1, learning_rate_multiplier: 1.8, n_epochs: 3 };

/**
 * Fine-tuning jobs: validating_files → queued → running → succeeded, one `stepMs` each, computed
 * from timestamps on read. Success writes a small metrics CSV as the job's result file.
 * Both dialects use the OpenAI job shape (keeping Azure's older status names buys nothing here).
 */
export class FineTuningEngine extends TimedEngine<JobRecord> {
  constructor(
    private readonly store: FileStore,
    private readonly dialect: Dialect,
    private readonly simName: string,
    stepMs: number,
  ) {
    super(stepMs, DONE_STEP, 'FineTuningJob');
  }

  create(body: Record<string, unknown>): Record<string, unknown> {
    const model = requiredString(body, 'model');
    const trainingFile = requiredString(body, 'training_file');
    if (!this.store.get(trainingFile)) throw notFound('File', trainingFile);
    const validationFile = optionalString(body, 'validation_file') ?? null;
    if (validationFile !== null && !this.store.get(validationFile)) {
      throw notFound('File', validationFile);
    }
    const suffix = optionalString(body, 'suffix') ?? null;
    if (suffix !== null && (suffix.length < 1 || suffix.length > 64)) {
      throw badRequest("'suffix' must be 1 to 64 characters", 'suffix');
    }
    const seed = body.seed;
    if (seed !== undefined && seed !== null && !Number.isInteger(seed)) {
      throw badRequest("'seed' must be an integer", 'seed');
    }
    const method = isRecord(body.method) ? body.method : {};
    const methodType = typeof method.type === 'string' ? method.type : 'supervised';
    const methodSettings = method[methodType];
    const requested =
      isRecord(methodSettings) && isRecord(methodSettings.hyperparameters)
        ? methodSettings.hyperparameters
        : isRecord(body.hyperparameters)
          ? body.hyperparameters
          : {};
    const record: JobRecord = {
      id: newJobId(),
      model,
      trainingFile,
      validationFile,
      suffix,
      seed: typeof seed === 'number' ? seed : Math.floor(Math.random() * 2_147_483_647),
      hyperparameters: { ...DEFAULT_HYPERPARAMETERS, ...requested },
      methodType,
      integrations: Array.isArray(body.integrations) ? body.integrations : null,
      metadata: isRecord(body.metadata) ? body.metadata : null,
      createdMs: Date.now(),
      cancelledMs: null,
      outcome: null,
      finishing: null,
    };
    return this.add(record);
  }

  async list(after: string | undefined, limit: number): Promise<Record<string, unknown>> {
    const page = await this.page(after, limit);
    return { object: 'list', data: page.data, has_more: page.hasMore };
  }

  /** OpenAI cancels immediately ("Immediately cancel a fine-tune job"). */
  async cancel(id: string): Promise<Record<string, unknown>> {
    const record = this.require(id);
    await this.refresh(record);
    const now = Date.now();
    const status = this.statusAt(record, now);
    if (status === 'succeeded' || status === 'failed' || status === 'cancelled') {
      throw badRequest(`Cannot cancel a job with status '${status}'.`);
    }
    record.cancelledMs = now;
    return this.render(record, now);
  }

  protected stopped(record: JobRecord): boolean {
    return record.cancelledMs !== null;
  }

  protected failed(record: JobRecord, reason: string): void {
    record.outcome = failed('processing_error', `Training failed: ${reason}`, null);
  }

  private statusAt(record: JobRecord, now: number): JobStatus {
    if (record.cancelledMs !== null) return 'cancelled';
    if (record.outcome) return record.outcome.status;
    const steps = stepsElapsed(record.createdMs, this.stepMs, now);
    if (steps >= RUNNING_STEP) return 'running';
    if (steps >= QUEUED_STEP) return 'queued';
    return 'validating_files';
  }

  protected render(record: JobRecord, now: number): Record<string, unknown> {
    const status = this.statusAt(record, now);
    const outcome = record.outcome;
    const hyperparameters =
      status === 'validating_files' || status === 'queued'
        ? record.hyperparameters
        : resolveAuto(record.hyperparameters);
    const finishedMs = record.cancelledMs ?? outcome?.atMs ?? null;
    const unfinished = status !== 'succeeded' && status !== 'failed' && status !== 'cancelled';
    return {
      id: record.id,
      object: 'fine_tuning.job',
      created_at: nowSeconds(record.createdMs),
      error: outcome?.error ?? null,
      fine_tuned_model: outcome?.status === 'succeeded' ? this.fineTunedModelName(record) : null,
      finished_at: finishedMs !== null ? nowSeconds(finishedMs) : null,
      hyperparameters,
      model: record.model,
      organization_id: 'org-sim',
      result_files: outcome?.resultFileId ? [outcome.resultFileId] : [],
      status,
      trained_tokens: outcome?.trainedTokens ?? null,
      training_file: record.trainingFile,
      validation_file: record.validationFile,
      seed: record.seed,
      integrations: record.integrations,
      estimated_finish: unfinished
        ? nowSeconds(stepStart(record.createdMs, this.stepMs, DONE_STEP))
        : null,
      method: { type: record.methodType, [record.methodType]: { hyperparameters } },
      metadata: record.metadata,
      user_provided_suffix: record.suffix,
    };
  }

  private fineTunedModelName(record: JobRecord): string {
    const shortId = record.id.slice('ftjob-'.length, 'ftjob-'.length + 8);
    return `ft:${record.model}:sim:${record.suffix ?? this.simName}:${shortId}`;
  }

  protected async finish(record: JobRecord): Promise<void> {
    const training = this.store.get(record.trainingFile);
    if (!training || !training.contentPath) {
      const reason = training ? 'its content was not retained' : 'it was deleted';
      record.outcome = failed(
        'invalid_training_file',
        `Training file ${record.trainingFile} cannot be read: ${reason}.`,
        'training_file',
      );
      return;
    }
    const epochs = RESOLVED_HYPERPARAMETERS.n_epochs;
    // Stands in for tokenization: ~4 bytes per token, once per epoch.
    const trainedTokens = Math.max(1, Math.ceil(training.bytes / 4)) * epochs;
    const csv = ['step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy']
      .concat(
        [1, 2, 3].map(
          (step) => `${String(step)},${(1 / step).toFixed(4)},${(0.5 + step / 10).toFixed(2)},,`,
        ),
      )
      .join('\n');
    if (!this.isCurrent(record)) return;
    const result = await this.store.addGenerated(
      newFileId(this.dialect),
      'step_metrics.csv',
      'fine-tune-results',
      `${csv}\n`,
    );
    record.outcome = {
      status: 'succeeded',
      atMs: Date.now(),
      resultFileId: result.id,
      trainedTokens,
      error: null,
    };
  }
}

function resolveAuto(hyperparameters: Record<string, unknown>): Record<string, unknown> {
  const resolved: Record<string, unknown> = { ...hyperparameters };
  for (const [key, value] of Object.entries(RESOLVED_HYPERPARAMETERS)) {
    if (resolved[key] === 'auto' || resolved[key] === undefined) resolved[key] = value;
  }
  return resolved;
}

function failed(code: string, message: string, param: string | null): JobOutcome {
  return {
    status: 'failed',
    atMs: Date.now(),
    resultFileId: null,
    trainedTokens: null,
    error: { code, message, param },
  };
}
