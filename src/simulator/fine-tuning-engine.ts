import type { FileStore } from './file-store';
import { badRequest, notFound } from './http-errors';
import { isRecord, nowSeconds, optionalString, requiredString } from './http-io';
import { derivedAlphanumeric, derivedHex, newFileId, newJobId } from './ids';
import { pageAfter, stepsElapsed, stepStart, TimedEngine } from './lifecycle';
import type { Dialect } from './types';

type JobStatus =
  'validating_files' | 'queued' | 'running' | 'paused' | 'succeeded' | 'failed' | 'cancelled';

// Azure's dated API still reports the older names for the first two statuses (reference §7);
// the gateway's adapter normalises them, so only the azure dialect produces them.
const AZURE_STATUS: Partial<Record<JobStatus, string>> = {
  validating_files: 'created',
  queued: 'pending',
};

interface Pause {
  fromMs: number;
  /** Null while the job is still paused. */
  toMs: number | null;
}

type EventLevel = 'info' | 'warn' | 'error';

/** One entry of a job's timeline, before rendering (ids and Azure's level names). */
interface TimelineEvent {
  /** Names the event within its job; the event id is derived from it, so it never changes. */
  key: string;
  atMs: number;
  level: EventLevel;
  message: string;
}

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
  /** When the job was created: what `created_at` reports. */
  submittedMs: number;
  /**
   * The origin of the job's status clock: `submittedMs` plus every finished pause, so the clock
   * stands still while paused and resumes where it stopped.
   */
  createdMs: number;
  /** Oldest first; only the last one can still be open. */
  pauses: Pause[];
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
// One training step per epoch keeps the metrics file, the step events and the checkpoints (one
// per epoch) telling the same story.
const TRAINING_STEPS = RESOLVED_HYPERPARAMETERS.n_epochs;

/**
 * Fine-tuning jobs: validating_files → queued → running → succeeded, one `stepMs` each, computed
 * from timestamps on read; a pause stops that clock until the job is resumed. Success writes a
 * small metrics CSV as the job's result file. Events and checkpoints are derived from the same
 * timestamps on read. The azure dialect differs where Azure's dated API does (status names,
 * `organisation_id`, the `warning` level, the fine-tuned model's name), so the gateway's adapter
 * is exercised; everything else is the OpenAI shape.
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
    const now = Date.now();
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
      submittedMs: now,
      createdMs: now,
      pauses: [],
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
      throw badRequest(`Cannot cancel a job with status '${this.shown(status)}'.`);
    }
    record.cancelledMs = now;
    return this.render(record, now);
  }

  async pause(id: string): Promise<Record<string, unknown>> {
    const record = this.require(id);
    await this.refresh(record);
    const now = Date.now();
    const status = this.statusAt(record, now);
    if (status !== 'validating_files' && status !== 'queued' && status !== 'running') {
      throw badRequest(`Cannot pause a job with status '${this.shown(status)}'.`);
    }
    record.pauses.push({ fromMs: now, toMs: null });
    return this.render(record, now);
  }

  /** Back to the status the job had when paused: the clock moves on from where it stopped. */
  async resume(id: string): Promise<Record<string, unknown>> {
    const record = this.require(id);
    // A no-op while paused; otherwise it makes the refusal name the job's current status.
    await this.refresh(record);
    const now = Date.now();
    const status = this.statusAt(record, now);
    const pause = openPause(record);
    if (status !== 'paused' || !pause) {
      throw badRequest(`Cannot resume a job with status '${this.shown(status)}'.`);
    }
    pause.toMs = now;
    record.createdMs += now - pause.fromMs;
    return this.render(record, now);
  }

  async events(
    id: string,
    after: string | undefined,
    limit: number,
  ): Promise<Record<string, unknown>> {
    const record = this.require(id);
    await this.refresh(record);
    const newestFirst = this.timeline(record, Date.now())
      .reverse()
      .map((event) => ({
        object: 'fine_tuning.job.event',
        id: `ftevent-${derivedAlphanumeric(`${record.id}:${event.key}`)}`,
        created_at: nowSeconds(event.atMs),
        level: event.level === 'warn' && this.dialect === 'azure' ? 'warning' : event.level,
        message: event.message,
        type: 'message',
        data: {},
      }));
    const page = pageAfter(newestFirst, after, limit);
    return { object: 'list', data: page.data, has_more: page.hasMore };
  }

  /** One checkpoint per epoch, newest first, once the job has succeeded (none before). */
  async checkpoints(
    id: string,
    after: string | undefined,
    limit: number,
  ): Promise<Record<string, unknown>> {
    const record = this.require(id);
    await this.refresh(record);
    const now = Date.now();
    const checkpoints: (Record<string, unknown> & { id: string })[] = [];
    const outcome = record.outcome;
    if (outcome?.status === 'succeeded') {
      const model = this.fineTunedModelName(record);
      for (let step = TRAINING_STEPS; step >= 1; step -= 1) {
        const atMs = this.realTimeAt(record, trainingStepOffset(this.stepMs, step), now);
        checkpoints.push({
          object: 'fine_tuning.job.checkpoint',
          id: `ftckpt-${derivedAlphanumeric(`${record.id}:checkpoint:${String(step)}`)}`,
          created_at: nowSeconds(atMs ?? outcome.atMs),
          fine_tuned_model_checkpoint: `${model}:ckpt-step-${String(step)}`,
          fine_tuning_job_id: record.id,
          metrics: stepMetrics(step),
          step_number: step,
        });
      }
    }
    const page = pageAfter(checkpoints, after, limit);
    return { object: 'list', data: page.data, has_more: page.hasMore };
  }

  /** A paused job makes no progress either, so nothing may finish it until it resumes. */
  protected stopped(record: JobRecord): boolean {
    return record.cancelledMs !== null || openPause(record) !== undefined;
  }

  protected failed(record: JobRecord, reason: string): void {
    record.outcome = failed('processing_error', `Training failed: ${reason}`, null);
  }

  private statusAt(record: JobRecord, now: number): JobStatus {
    if (record.cancelledMs !== null) return 'cancelled';
    if (record.outcome) return record.outcome.status;
    if (openPause(record)) return 'paused';
    return this.progressAt(record, now);
  }

  /** Where the clock has got to; for a paused job, where it stood when paused. */
  private progressAt(record: JobRecord, now: number): 'validating_files' | 'queued' | 'running' {
    const steps = stepsElapsed(record.createdMs, this.stepMs, openPause(record)?.fromMs ?? now);
    if (steps >= RUNNING_STEP) return 'running';
    if (steps >= QUEUED_STEP) return 'queued';
    return 'validating_files';
  }

  private shown(status: JobStatus): string {
    return (this.dialect === 'azure' ? AZURE_STATUS[status] : undefined) ?? status;
  }

  /**
   * When the job's clock read `activeMs` (time spent unpaused since creation), or null when that
   * has not happened: it is still ahead, the job is paused before it, or the job was cancelled.
   */
  private realTimeAt(record: JobRecord, activeMs: number, now: number): number | null {
    let origin = record.submittedMs;
    let atMs: number | undefined;
    for (const pause of record.pauses) {
      // A moment exactly at the pause happened before it: the job was paused after reaching it.
      if (origin + activeMs <= pause.fromMs) {
        atMs = origin + activeMs;
        break;
      }
      if (pause.toMs === null) return null;
      origin += pause.toMs - pause.fromMs;
    }
    atMs ??= origin + activeMs;
    if (atMs > now || (record.cancelledMs !== null && atMs > record.cancelledMs)) return null;
    return atMs;
  }

  /** The job's events so far, oldest first; all of them `message` events (no `metrics` ones). */
  private timeline(record: JobRecord, now: number): TimelineEvent[] {
    const events: TimelineEvent[] = [];
    const onClock = (key: string, activeMs: number, level: EventLevel, message: string): void => {
      const atMs = this.realTimeAt(record, activeMs, now);
      if (atMs !== null) events.push({ key, atMs, level, message });
    };
    onClock('created', 0, 'info', `Created fine-tuning job: ${record.id}`);
    onClock('validating', 0, 'info', `Validating training file: ${record.trainingFile}`);
    // Always sent (the simulator does not count examples) so clients meet a non-info level.
    onClock(
      'few-examples',
      0,
      'warn',
      'Training file has fewer than 10 examples; results may be poor',
    );
    onClock(
      'validated',
      QUEUED_STEP * this.stepMs,
      'info',
      'Files validated, moving job to queued state',
    );
    onClock('started', RUNNING_STEP * this.stepMs, 'info', 'Fine-tuning job started');
    for (let step = 1; step <= TRAINING_STEPS; step += 1) {
      const loss = stepMetrics(step).train_loss.toFixed(4);
      onClock(
        `step-${String(step)}`,
        trainingStepOffset(this.stepMs, step),
        'info',
        `Step ${String(step)}/${String(TRAINING_STEPS)}: training loss=${loss}`,
      );
    }
    // Calls that changed the job happened when they were made; pushed after the clock's events
    // so that at an equal time the sort below keeps a pause after the step it was made at.
    record.pauses.forEach((pause, index) => {
      const n = String(index);
      events.push({
        key: `paused-${n}`,
        atMs: pause.fromMs,
        level: 'info',
        message: 'The job has been paused',
      });
      if (pause.toMs !== null) {
        events.push({
          key: `resumed-${n}`,
          atMs: pause.toMs,
          level: 'info',
          message: 'The job has been resumed',
        });
      }
    });
    if (record.cancelledMs !== null) {
      events.push({
        key: 'cancelled',
        atMs: record.cancelledMs,
        level: 'info',
        message: 'The job has been cancelled',
      });
    }
    const outcome = record.outcome;
    if (outcome?.status === 'succeeded') {
      events.push(
        {
          key: 'model',
          atMs: outcome.atMs,
          level: 'info',
          message: 'New fine-tuned model created',
        },
        {
          key: 'completed',
          atMs: outcome.atMs,
          level: 'info',
          message: 'The job has successfully completed',
        },
      );
    } else if (outcome) {
      events.push({
        key: 'failed',
        atMs: outcome.atMs,
        level: 'error',
        message: `The job failed: ${outcome.error?.message ?? 'unknown error'}`,
      });
    }
    // Array.prototype.sort is stable: events at the same moment keep the order pushed above.
    return events.sort((a, b) => a.atMs - b.atMs);
  }

  protected render(record: JobRecord, now: number): Record<string, unknown> {
    const status = this.statusAt(record, now);
    const progress = status === 'paused' ? this.progressAt(record, now) : status;
    const outcome = record.outcome;
    const hyperparameters =
      progress === 'validating_files' || progress === 'queued'
        ? record.hyperparameters
        : resolveAuto(record.hyperparameters);
    const finishedMs = record.cancelledMs ?? outcome?.atMs ?? null;
    // A paused job has no finish in sight until it is resumed.
    const running = status === 'validating_files' || status === 'queued' || status === 'running';
    return {
      id: record.id,
      object: 'fine_tuning.job',
      created_at: nowSeconds(record.submittedMs),
      error: outcome?.error ?? null,
      fine_tuned_model: outcome?.status === 'succeeded' ? this.fineTunedModelName(record) : null,
      finished_at: finishedMs !== null ? nowSeconds(finishedMs) : null,
      hyperparameters,
      model: record.model,
      [this.dialect === 'azure' ? 'organisation_id' : 'organization_id']: 'org-sim',
      result_files: outcome?.resultFileId ? [outcome.resultFileId] : [],
      status: this.shown(status),
      trained_tokens: outcome?.trainedTokens ?? null,
      training_file: record.trainingFile,
      validation_file: record.validationFile,
      seed: record.seed,
      integrations: record.integrations,
      estimated_finish: running
        ? nowSeconds(stepStart(record.createdMs, this.stepMs, DONE_STEP))
        : null,
      method: { type: record.methodType, [record.methodType]: { hyperparameters } },
      metadata: record.metadata,
      user_provided_suffix: record.suffix,
    };
  }

  /**
   * Azure names a fine-tuned model `<model>.ft-<32 hex>`, OpenAI `ft:<model>:<org>:<suffix>:<id>`;
   * both are derived from the job id so every read shows the same name.
   */
  private fineTunedModelName(record: JobRecord): string {
    if (this.dialect === 'azure') return `${record.model}.ft-${derivedHex(record.id, 32)}`;
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
        Array.from({ length: TRAINING_STEPS }, (_, index) => {
          const metrics = stepMetrics(index + 1);
          return `${String(metrics.step)},${metrics.train_loss.toFixed(4)},${metrics.train_mean_token_accuracy.toFixed(2)},,`;
        }),
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

function openPause(record: JobRecord): Pause | undefined {
  const last = record.pauses.at(-1);
  return last && last.toMs === null ? last : undefined;
}

/** Training steps are spread evenly over the running status, the last one ending it. */
function trainingStepOffset(stepMs: number, step: number): number {
  return stepStart(0, stepMs, RUNNING_STEP) + (step / TRAINING_STEPS) * Math.max(0, stepMs);
}

/** Made-up but plausible numbers: loss falls and accuracy rises with every step. */
function stepMetrics(step: number): {
  step: number;
  train_loss: number;
  train_mean_token_accuracy: number;
  valid_loss: number;
  valid_mean_token_accuracy: number;
  full_valid_loss: number;
  full_valid_mean_token_accuracy: number;
} {
  const round = (value: number): number => Math.round(value * 10_000) / 10_000;
  return {
    step,
    train_loss: round(1 / step),
    train_mean_token_accuracy: round(0.5 + step / 10),
    valid_loss: round(1 / step + 0.05),
    valid_mean_token_accuracy: round(0.45 + step / 10),
    full_valid_loss: round(1 / step + 0.06),
    full_valid_mean_token_accuracy: round(0.44 + step / 10),
  };
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
