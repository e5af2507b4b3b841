import { badRequest, notFound, SimHttpError } from './http-errors';
import { isRecord, parseAfter, parseLimit } from './http-io';
import { randomAlphanumeric } from './ids';

/** Long benchmark runs must not grow memory without bound: keep the most recent responses only. */
const MAX_STORED_RESPONSES = 10_000;

interface StoredResponse {
  /** The response as it is once complete. */
  readonly completed: Record<string, unknown>;
  readonly inputItems: readonly Record<string, unknown>[];
  readonly background: boolean;
  readonly createdMs: number;
  cancelled: boolean;
}

/**
 * Responses are stateful at the provider (reference §10): retrieve, delete, input_items and
 * cancel only work on the deployment that created the response, and `previous_response_id`
 * must name one it holds. Keeping them lets tests see a call routed to the wrong deployment fail
 * as it would upstream.
 */
export class ResponseStore {
  private readonly responses = new Map<string, StoredResponse>();

  constructor(
    /** How long a background response stays queued before it counts as completed. */
    private readonly stepMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  ids(): string[] {
    return [...this.responses.keys()];
  }

  /** Fails like OpenAI when `previous_response_id` names a response this provider lacks. */
  requirePrevious(body: Record<string, unknown>): void {
    const previous = body.previous_response_id;
    if (previous === undefined || previous === null) return;
    if (typeof previous === 'string' && this.responses.has(previous)) return;
    const shown = typeof previous === 'string' ? previous : JSON.stringify(previous);
    throw new SimHttpError(
      400,
      `Previous response with id '${shown}' not found.`,
      'previous_response_id',
      'previous_response_not_found',
      'invalidPayload',
    );
  }

  /** Keeps the response (unless `store: false`) and returns what the create call answers. */
  create(completed: Record<string, unknown>, body: Record<string, unknown>): unknown {
    const stored: StoredResponse = {
      completed,
      inputItems: inputItemsOf(body.input),
      background: body.background === true,
      createdMs: this.now(),
      cancelled: false,
    };
    if (body.store !== false) {
      if (this.responses.size >= MAX_STORED_RESPONSES) {
        const oldest = this.responses.keys().next();
        if (oldest.done !== true) this.responses.delete(oldest.value);
      }
      this.responses.set(String(completed.id), stored);
    }
    return this.view(stored);
  }

  retrieve(id: string): unknown {
    return this.view(this.get(id));
  }

  delete(id: string): unknown {
    this.get(id);
    this.responses.delete(id);
    return { id, object: 'response', deleted: true };
  }

  cancel(id: string): unknown {
    const stored = this.get(id);
    if (!stored.background) {
      throw badRequest('Only responses created with background=true can be cancelled.', 'id');
    }
    if (!stored.cancelled && this.isDone(stored)) {
      throw badRequest('Cannot cancel a completed response.', 'id');
    }
    stored.cancelled = true;
    return this.view(stored);
  }

  /** `GET /responses/{id}/input_items`: a cursor page, newest first unless `order=asc`. */
  inputItems(id: string, query: URLSearchParams): unknown {
    const stored = this.get(id);
    const order = query.get('order') ?? 'desc';
    if (order !== 'asc' && order !== 'desc') {
      throw badRequest("Invalid 'order': expected 'asc' or 'desc'.", 'order');
    }
    const limit = parseLimit(query, 20, 100);
    const after = parseAfter(query);
    const items = order === 'asc' ? [...stored.inputItems] : [...stored.inputItems].reverse();
    const start = after === undefined ? 0 : items.findIndex((item) => item.id === after) + 1;
    const data = items.slice(start, start + limit);
    return {
      object: 'list',
      data,
      first_id: data.at(0)?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: start + limit < items.length,
    };
  }

  reset(): void {
    this.responses.clear();
  }

  private get(id: string): StoredResponse {
    const stored = this.responses.get(id);
    if (!stored) throw notFound('Response', id);
    return stored;
  }

  private isDone(stored: StoredResponse): boolean {
    return !stored.background || this.now() - stored.createdMs >= this.stepMs;
  }

  private view(stored: StoredResponse): Record<string, unknown> {
    const base = { ...stored.completed, background: stored.background };
    if (stored.cancelled) return { ...base, status: 'cancelled', output: [], usage: null };
    if (!this.isDone(stored)) return { ...base, status: 'queued', output: [], usage: null };
    return base;
  }
}

/** The request's input as the provider lists it: every item a message or item with an id. */
function inputItemsOf(input: unknown): Record<string, unknown>[] {
  if (typeof input === 'string') {
    return [message('user', [{ type: 'input_text', text: input }])];
  }
  if (!Array.isArray(input)) return [];
  return input.filter(isRecord).map((item) => {
    if (item.type === undefined && typeof item.role === 'string') {
      const content =
        typeof item.content === 'string'
          ? [{ type: 'input_text', text: item.content }]
          : Array.isArray(item.content)
            ? item.content
            : [];
      return message(item.role, content, typeof item.id === 'string' ? item.id : undefined);
    }
    return { id: `item_${randomAlphanumeric(40)}`, ...item };
  });
}

function message(role: string, content: unknown[], id?: string): Record<string, unknown> {
  return {
    id: id ?? `msg_${randomAlphanumeric(40)}`,
    type: 'message',
    role,
    status: 'completed',
    content,
  };
}
