import { randomAlphanumeric } from './ids';
import { isRecord, nowSeconds } from './http-io';

// Chat and Responses calls answer with the file ids they received, so tests can see whether the
// gateway rewrote unified ids into this provider's ids.

/** `file.file_id` of every `{type:'file'}` content part in the chat messages, in order. */
export function chatFileIds(body: Record<string, unknown>): string[] {
  const ids: string[] = [];
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (const message of messages) {
    if (!isRecord(message) || !Array.isArray(message.content)) continue;
    for (const part of message.content) {
      if (!isRecord(part) || part.type !== 'file' || !isRecord(part.file)) continue;
      if (typeof part.file.file_id === 'string') ids.push(part.file.file_id);
    }
  }
  return ids;
}

/**
 * Every `input_file` part's file_id anywhere in `input` (parts nest inside messages), then the
 * file_ids of code_interpreter tool containers.
 */
export function responseFileIds(body: Record<string, unknown>): string[] {
  const ids: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
      return;
    }
    if (!isRecord(node)) return;
    if (node.type === 'input_file' && typeof node.file_id === 'string') ids.push(node.file_id);
    for (const value of Object.values(node)) walk(value);
  };
  walk(body.input);
  const tools = Array.isArray(body.tools) ? body.tools : [];
  for (const tool of tools) {
    if (!isRecord(tool) || tool.type !== 'code_interpreter' || !isRecord(tool.container)) continue;
    const fileIds = tool.container.file_ids;
    if (!Array.isArray(fileIds)) continue;
    for (const id of fileIds) if (typeof id === 'string') ids.push(id);
  }
  return ids;
}

export function echoText(simName: string, model: string, fileIds: readonly string[]): string {
  return JSON.stringify({ sim: simName, model, file_ids: fileIds });
}

/** Rough token estimate: the simulator has no tokenizer, ~4 bytes per token is close enough. */
function estimateTokens(value: unknown): number {
  return Math.max(1, Math.ceil(JSON.stringify(value ?? '').length / 4));
}

export function chatCompletion(
  simName: string,
  model: string,
  body: Record<string, unknown>,
  fileIds: readonly string[],
): Record<string, unknown> {
  const content = echoText(simName, model, fileIds);
  const promptTokens = estimateTokens(body.messages);
  const completionTokens = estimateTokens(content);
  return {
    id: `chatcmpl-${randomAlphanumeric(29)}`,
    object: 'chat.completion',
    created: nowSeconds(),
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    },
    system_fingerprint: `fp_sim_${simName}`,
  };
}

/** The chunks of a streamed chat completion (`stream: true`), as SSE `data:` payloads. */
/** OpenAI's chunks for a completion; `includeUsage` (stream_options) adds the usage chunk last. */
export function chatCompletionChunks(
  completion: Record<string, unknown>,
  includeUsage = false,
): unknown[] {
  const choices = Array.isArray(completion.choices) ? completion.choices : [];
  const first: unknown = choices[0];
  const message = isRecord(first) && isRecord(first.message) ? first.message : {};
  const base = {
    id: completion.id,
    object: 'chat.completion.chunk',
    created: completion.created,
    model: completion.model,
  };
  return [
    {
      ...base,
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
    },
    {
      ...base,
      choices: [{ index: 0, delta: { content: message.content }, finish_reason: null }],
    },
    { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
    ...(includeUsage ? [{ ...base, choices: [], usage: completion.usage }] : []),
  ];
}

export function responseObject(
  simName: string,
  model: string,
  body: Record<string, unknown>,
  fileIds: readonly string[],
): Record<string, unknown> {
  const text = echoText(simName, model, fileIds);
  const inputTokens = estimateTokens(body.input);
  const outputTokens = estimateTokens(text);
  return {
    id: `resp_${randomAlphanumeric(40)}`,
    object: 'response',
    created_at: nowSeconds(),
    status: 'completed',
    error: null,
    incomplete_details: null,
    instructions: typeof body.instructions === 'string' ? body.instructions : null,
    model,
    output: [
      {
        type: 'message',
        id: `msg_${randomAlphanumeric(40)}`,
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text, annotations: [] }],
      },
    ],
    parallel_tool_calls: true,
    previous_response_id:
      typeof body.previous_response_id === 'string' ? body.previous_response_id : null,
    temperature: 1,
    top_p: 1,
    tool_choice: 'auto',
    tools: Array.isArray(body.tools) ? body.tools : [],
    metadata: isRecord(body.metadata) ? body.metadata : {},
    usage: {
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: inputTokens + outputTokens,
    },
  };
}

/** One server-sent event: Responses streams name each event, chat streams do not. */
export interface SseEvent {
  readonly event?: string;
  readonly data: unknown;
}

/**
 * The events of a streamed Responses call (`stream: true`): created, the message's text as one
 * delta, completed. Real streams carry more event kinds; clients key on `type`, so these suffice.
 */
export function responseStreamEvents(response: Record<string, unknown>): SseEvent[] {
  const output = Array.isArray(response.output) ? response.output : [];
  const first: unknown = output[0];
  const item = isRecord(first) ? first : {};
  const parts = Array.isArray(item.content) ? item.content : [];
  const part: unknown = parts[0];
  const text = isRecord(part) && typeof part.text === 'string' ? part.text : '';
  const inProgress = { ...response, status: 'in_progress', output: [], usage: null };
  const where = { item_id: item.id, output_index: 0, content_index: 0 };
  const events: Array<Record<string, unknown>> = [
    { type: 'response.created', response: inProgress },
    {
      type: 'response.output_item.added',
      output_index: 0,
      item: { ...item, status: 'in_progress', content: [] },
    },
    { type: 'response.output_text.delta', ...where, delta: text },
    { type: 'response.output_text.done', ...where, text },
    { type: 'response.output_item.done', output_index: 0, item },
    { type: 'response.completed', response },
  ];
  return events.map((data, index) => ({
    event: String(data.type),
    data: { ...data, sequence_number: index },
  }));
}
