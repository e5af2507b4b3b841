import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { chatCompletion, chatFileIds, responseFileIds, responseObject } from './echo';
import type { FileStore } from './file-store';
import { badRequest, errorBody, notFound } from './http-errors';
import { isRecord, nowSeconds, optionalString, requiredString } from './http-io';
import { newBatchId, newFileId, newRequestId, randomAlphanumeric } from './ids';
import { stepsElapsed, stepStart, TimedEngine } from './lifecycle';
import type { Dialect } from './types';

type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

interface BatchError {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

/** What processing the input file produced; fixed once the batch leaves 'finalizing'. */
interface BatchOutcome {
  status: 'completed' | 'failed';
  atMs: number;
  outputFileId: string | null;
  errorFileId: string | null;
  counts: { total: number; completed: number; failed: number };
  errors: BatchError[];
  model: string | null;
}

interface BatchRecord {
  id: string;
  endpoint: string;
  inputFileId: string;
  completionWindow: string;
  metadata: Record<string, unknown> | null;
  outputExpiresAfterSeconds: number | null;
  /** The deployment of an Azure /deployments/{name}/batches call: the model until lines say. */
  deployment: string | null;
  createdMs: number;
  cancelRequestedMs: number | null;
  outcome: BatchOutcome | null;
  /** Set while the output file is being written, so concurrent reads wait for the same work. */
  finishing: Promise<void> | null;
}

// Steps after creation at which the batch enters each status (validating is step 0).
const IN_PROGRESS_STEP = 1;
const FINALIZING_STEP = 2;
const DONE_STEP = 3;

/**
 * Batches: validating → in_progress → finalizing → completed, one `stepMs` each, computed from
 * timestamps on every read. Completion runs the input file's lines through the chat/responses
 * echo and stores the output (and error) JSONL as new files.
 */
export class BatchEngine extends TimedEngine<BatchRecord> {
  constructor(
    private readonly store: FileStore,
    private readonly dialect: Dialect,
    private readonly simName: string,
    stepMs: number,
  ) {
    super(stepMs, DONE_STEP, 'Batch');
  }

  create(body: Record<string, unknown>, deployment: string | undefined): Record<string, unknown> {
    const inputFileId = requiredString(body, 'input_file_id');
    const endpoint = requiredString(body, 'endpoint');
    const completionWindow = requiredString(body, 'completion_window');
    if (!this.store.get(inputFileId)) throw notFound('File', inputFileId);
    if (body.metadata !== undefined && body.metadata !== null && !isRecord(body.metadata)) {
      throw badRequest("'metadata' must be an object", 'metadata');
    }
    const expiresAfter = body.output_expires_after;
    const seconds = isRecord(expiresAfter) ? expiresAfter.seconds : undefined;
    const record: BatchRecord = {
      id: newBatchId(),
      endpoint,
      inputFileId,
      completionWindow,
      metadata: isRecord(body.metadata) ? body.metadata : null,
      outputExpiresAfterSeconds: typeof seconds === 'number' ? seconds : null,
      deployment: deployment ?? null,
      createdMs: Date.now(),
      cancelRequestedMs: null,
      outcome: null,
      finishing: null,
    };
    return this.add(record);
  }

  async list(after: string | undefined, limit: number): Promise<Record<string, unknown>> {
    const page = await this.page(after, limit);
    return {
      object: 'list',
      data: page.data,
      first_id: page.records[0]?.id ?? null,
      last_id: page.records.at(-1)?.id ?? null,
      has_more: page.hasMore,
    };
  }

  async cancel(id: string): Promise<Record<string, unknown>> {
    const record = this.require(id);
    await this.refresh(record);
    const now = Date.now();
    const status = this.statusAt(record, now);
    if (status === 'completed' || status === 'failed' || status === 'expired') {
      throw badRequest(`Cannot cancel a batch with status '${status}'.`);
    }
    if (record.cancelRequestedMs === null) record.cancelRequestedMs = now;
    return this.render(record, now);
  }

  protected stopped(record: BatchRecord): boolean {
    return record.cancelRequestedMs !== null;
  }

  protected failed(record: BatchRecord, reason: string): void {
    record.outcome = failedOutcome('processing_error', `Batch processing failed: ${reason}`);
  }

  private statusAt(record: BatchRecord, now: number): BatchStatus {
    if (record.cancelRequestedMs !== null) {
      return now < record.cancelRequestedMs + this.stepMs ? 'cancelling' : 'cancelled';
    }
    if (record.outcome) return record.outcome.status;
    const steps = stepsElapsed(record.createdMs, this.stepMs, now);
    if (steps >= FINALIZING_STEP) return 'finalizing';
    if (steps >= IN_PROGRESS_STEP) return 'in_progress';
    return 'validating';
  }

  protected render(record: BatchRecord, now: number): Record<string, unknown> {
    const status = this.statusAt(record, now);
    // Progress stops where a cancel caught the batch.
    const progressedTo = record.cancelRequestedMs ?? now;
    const steps = stepsElapsed(record.createdMs, this.stepMs, progressedTo);
    const at = (step: number): number | null =>
      steps >= step ? nowSeconds(stepStart(record.createdMs, this.stepMs, step)) : null;
    const outcome = record.outcome;
    const cancelledAtMs =
      record.cancelRequestedMs !== null && status === 'cancelled'
        ? record.cancelRequestedMs + this.stepMs
        : null;
    return {
      id: record.id,
      object: 'batch',
      endpoint: record.endpoint,
      model: outcome?.model ?? record.deployment,
      errors:
        outcome && outcome.errors.length > 0 ? { object: 'list', data: outcome.errors } : null,
      input_file_id: record.inputFileId,
      completion_window: record.completionWindow,
      status,
      output_file_id: outcome?.outputFileId ?? null,
      error_file_id: outcome?.errorFileId ?? null,
      created_at: nowSeconds(record.createdMs),
      in_progress_at: outcome?.status === 'failed' ? null : at(IN_PROGRESS_STEP),
      expires_at: nowSeconds(record.createdMs) + 24 * 3600,
      finalizing_at: outcome?.status === 'failed' ? null : at(FINALIZING_STEP),
      completed_at: outcome?.status === 'completed' ? nowSeconds(outcome.atMs) : null,
      failed_at: outcome?.status === 'failed' ? nowSeconds(outcome.atMs) : null,
      expired_at: null,
      cancelling_at:
        record.cancelRequestedMs !== null ? nowSeconds(record.cancelRequestedMs) : null,
      cancelled_at: cancelledAtMs !== null ? nowSeconds(cancelledAtMs) : null,
      request_counts: outcome?.counts ?? { total: 0, completed: 0, failed: 0 },
      usage: {
        input_tokens: 0,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 0,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 0,
      },
      metadata: record.metadata,
    };
  }

  protected async finish(record: BatchRecord): Promise<void> {
    const input = this.store.get(record.inputFileId);
    if (!input || !input.contentPath) {
      const reason = input ? 'its content was not retained' : 'it was deleted';
      record.outcome = failedOutcome(
        'invalid_file',
        `Input file ${record.inputFileId} cannot be read: ${reason}.`,
      );
      return;
    }
    const outputLines: string[] = [];
    const errorLines: string[] = [];
    let model: string | null = null;
    const lines = createInterface({ input: createReadStream(input.contentPath) });
    for await (const rawLine of lines) {
      const line = rawLine.trim();
      if (line === '') continue;
      const result = this.processLine(line, record.endpoint);
      model ??= result.model;
      (result.ok ? outputLines : errorLines).push(JSON.stringify(result.output));
    }
    const expiresAt =
      record.outputExpiresAfterSeconds !== null
        ? nowSeconds() + record.outputExpiresAfterSeconds
        : null;
    const store = async (kind: string, lines: string[]): Promise<string | null> => {
      // A reset while the lines were read forgets this batch: do not leave its files behind.
      if (lines.length === 0 || !this.isCurrent(record)) return null;
      const file = await this.store.addGenerated(
        newFileId(this.dialect),
        `${record.id}_${kind}.jsonl`,
        'batch_output',
        `${lines.join('\n')}\n`,
      );
      file.expiresAt = expiresAt;
      return file.id;
    };
    record.outcome = {
      status: 'completed',
      atMs: Date.now(),
      outputFileId: await store('output', outputLines),
      errorFileId: await store('error', errorLines),
      counts: {
        total: outputLines.length + errorLines.length,
        completed: outputLines.length,
        failed: errorLines.length,
      },
      errors: [],
      model,
    };
  }

  /** One input line → one output line (`ok`) or one error-file line. */
  private processLine(
    line: string,
    endpoint: string,
  ): { ok: boolean; output: Record<string, unknown>; model: string | null } {
    const id = `batch_req_${randomAlphanumeric(32)}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    const customId =
      isRecord(parsed) && typeof parsed.custom_id === 'string' ? parsed.custom_id : null;
    if (!isRecord(parsed) || customId === null) {
      const message =
        parsed === undefined ? 'Line is not valid JSON.' : "Line is missing a string 'custom_id'.";
      return {
        ok: false,
        output: {
          id,
          custom_id: customId,
          response: null,
          error: { code: 'invalid_request', message },
        },
        model: null,
      };
    }
    const body = isRecord(parsed.body) ? parsed.body : {};
    const url = typeof parsed.url === 'string' ? parsed.url : endpoint;
    const model = optionalModel(body);
    const isResponses = url.includes('responses');
    const fileIds = isResponses ? responseFileIds(body) : chatFileIds(body);
    const missing = fileIds.find((fileId) => !this.store.get(fileId));
    if (missing !== undefined) {
      return {
        ok: false,
        output: {
          id,
          custom_id: customId,
          response: {
            status_code: 404,
            request_id: newRequestId(),
            body: errorBody(this.dialect, notFound('File', missing)),
          },
          error: null,
        },
        model,
      };
    }
    const echoModel = model ?? 'unknown';
    const responseBody = isResponses
      ? responseObject(this.simName, echoModel, body, fileIds)
      : chatCompletion(this.simName, echoModel, body, fileIds);
    return {
      ok: true,
      output: {
        id,
        custom_id: customId,
        response: { status_code: 200, request_id: newRequestId(), body: responseBody },
        error: null,
      },
      model,
    };
  }
}

function optionalModel(body: Record<string, unknown>): string | null {
  try {
    return optionalString(body, 'model') ?? null;
  } catch {
    return null;
  }
}

function failedOutcome(code: string, message: string): BatchOutcome {
  return {
    status: 'failed',
    atMs: Date.now(),
    outputFileId: null,
    errorFileId: null,
    counts: { total: 0, completed: 0, failed: 0 },
    errors: [{ code, message, param: null, line: null }],
    model: null,
  };
}
