import type { ProviderOperation } from '../../provider-client';

/**
 * Azure's dated fine-tuning API speaks an older dialect of OpenAI's: statuses `created` and
 * `pending` (OpenAI: `validating_files`, `queued`; `notRunning` in some versions), the British
 * `organisation_id`, and event level `warning` (OpenAI: `warn`). Callers of the gateway see
 * OpenAI's objects only, so the SDKs' types and the OpenAI schema hold for every deployment.
 */
const JOB_STATUS: Readonly<Record<string, string>> = {
  created: 'validating_files',
  pending: 'queued',
  notRunning: 'queued',
  canceled: 'cancelled',
};

const EVENT_LEVEL: Readonly<Record<string, string>> = { warning: 'warn' };

const JOB_OPERATIONS: ReadonlySet<ProviderOperation> = new Set<ProviderOperation>([
  'fine_tuning.jobs.create',
  'fine_tuning.jobs.retrieve',
  'fine_tuning.jobs.cancel',
  'fine_tuning.jobs.pause',
  'fine_tuning.jobs.resume',
]);

/** The answer of a fine-tuning operation in OpenAI's shape; other answers are returned as they are. */
export function openAiFineTuning(operation: ProviderOperation, body: unknown): unknown {
  if (JOB_OPERATIONS.has(operation)) return isRecord(body) ? job(body) : body;
  if (operation === 'fine_tuning.jobs.list_events' && isRecord(body) && Array.isArray(body.data)) {
    const events: unknown[] = body.data;
    return { ...body, data: events.map((event) => (isRecord(event) ? eventOf(event) : event)) };
  }
  return body;
}

function job(body: Record<string, unknown>): Record<string, unknown> {
  const { organisation_id: organisation, ...rest } = body;
  const out: Record<string, unknown> = { ...rest };
  if (!('organization_id' in out) && organisation !== undefined) {
    out.organization_id = organisation;
  }
  if (typeof out.status === 'string') out.status = JOB_STATUS[out.status] ?? out.status;
  return out;
}

function eventOf(event: Record<string, unknown>): Record<string, unknown> {
  return typeof event.level === 'string' && EVENT_LEVEL[event.level]
    ? { ...event, level: EVENT_LEVEL[event.level] }
    : event;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
