// Public types of the simulated upstream. They live apart from simulator.ts so the helper modules
// (file store, engines, faults) can share them without importing the server and forming cycles.

export type Dialect = 'openai' | 'azure';

export type SimRoute =
  | 'files.create'
  | 'files.list'
  | 'files.retrieve'
  | 'files.content'
  | 'files.delete'
  | 'chat.completions'
  | 'responses'
  | 'responses.retrieve'
  | 'responses.delete'
  | 'responses.input_items'
  | 'responses.cancel'
  | 'batches.create'
  | 'batches.list'
  | 'batches.retrieve'
  | 'batches.cancel'
  | 'fine_tuning.create'
  | 'fine_tuning.list'
  | 'fine_tuning.retrieve'
  | 'fine_tuning.cancel'
  | 'fine_tuning.pause'
  | 'fine_tuning.resume'
  | 'fine_tuning.events'
  | 'fine_tuning.checkpoints';

export const SIM_ROUTES: readonly SimRoute[] = [
  'files.create',
  'files.list',
  'files.retrieve',
  'files.content',
  'files.delete',
  'chat.completions',
  'responses',
  'responses.retrieve',
  'responses.delete',
  'responses.input_items',
  'responses.cancel',
  'batches.create',
  'batches.list',
  'batches.retrieve',
  'batches.cancel',
  'fine_tuning.create',
  'fine_tuning.list',
  'fine_tuning.retrieve',
  'fine_tuning.cancel',
  'fine_tuning.pause',
  'fine_tuning.resume',
  'fine_tuning.events',
  'fine_tuning.checkpoints',
];

export interface FaultRule {
  route: SimRoute | '*';
  /** Fire only on the n-th matching call counted from when the rule was added (1-based). */
  nth?: number;
  /** How many times the rule may fire in all (default: unlimited). */
  times?: number;
  /** Answer with this status and an error body in the dialect's error shape. */
  status?: number;
  /** Delay before handling (can combine with status). */
  latencyMs?: number;
  /** With a status: send this `retry-after` header (seconds), as rate limiters do. */
  retryAfterSeconds?: number;
  /**
   * For a streamed answer (chat or responses with `stream: true`): wait this long between
   * events, so a client can be seen reading the first event before the last one is sent.
   */
  chunkDelayMs?: number;
  /**
   * 'before-response': destroy the socket without answering.
   * 'mid-body': for requests with a body, destroy the socket after ~64 KiB (or half, if smaller)
   * of the request body was read; for files.content, after sending part of the response body.
   */
  dropConnection?: 'before-response' | 'mid-body';
}

export interface StoredFile {
  id: string;
  filename: string;
  purpose: string;
  bytes: number;
  /** Unix seconds, as the API reports it. */
  createdAt: number;
  /** Unix seconds, or null when the file never expires. */
  expiresAt: number | null;
  /** Hex sha256 of the content as it arrived. */
  sha256: string;
  /** Where the content lives on disk; null when the simulator runs with discardContent. */
  contentPath: string | null;
}

export interface CallRecord {
  route: SimRoute | 'unknown';
  method: string;
  /** Path plus query string, as the client sent it. */
  path: string;
  /** Epoch milliseconds when the request arrived. */
  at: number;
  headers: Record<string, string>;
  /**
   * True once the connection closed before the answer was complete: the client went away (an
   * abort) or a drop fault cut it.
   */
  closedEarly: boolean;
  /** The JSON body of a model call (chat, responses), as received: what tests compare. */
  body?: unknown;
}

export interface SimulatorOptions {
  dialect: Dialect;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** When set, requests must authenticate (openai: Authorization: Bearer; azure: api-key). */
  apiKey?: string;
  /** Azure: `api-version` must equal this when set (otherwise any non-empty value is accepted). */
  apiVersion?: string;
  /** Cap on how fast request bodies are read; stands in for a network link in benchmarks. */
  bandwidthBytesPerSec?: number;
  /** Count and hash uploaded bytes but do not keep them; content then answers 404. */
  discardContent?: boolean;
  /**
   * With `discardContent`: only count the bytes, no sha256 (`sha256` is then ''): a provider
   * that parses the form and drops the file, so the benchmarks' upstreams cost no more CPU than
   * the multipart parse (three hashing simulators take most of a core at 200 MB/s each).
   */
  countOnly?: boolean;
  /** How long a batch / fine-tuning job stays in each status (default 200). */
  statusStepMs?: number;
  /** Shows in logs and in chat echo. */
  name?: string;
  /** Keep files (index and content) in this directory across restarts; default: a temp dir. */
  persistDir?: string;
}

export interface SimulatedUpstream {
  readonly dialect: Dialect;
  readonly port: number;
  readonly name: string;
  /** openai → `http://127.0.0.1:PORT/v1`; azure → `http://127.0.0.1:PORT` (the resource endpoint). */
  readonly apiBase: string;
  readonly files: ReadonlyMap<string, StoredFile>;
  /** Requests received (not /__sim/ ones), oldest first; only the most recent 10,000 are kept. */
  readonly calls: readonly CallRecord[];
  /** The ids of the responses this provider holds (Responses API), oldest first. */
  readonly responseIds: readonly string[];
  addFault(rule: FaultRule): void;
  clearFaults(): void;
  /** Forget files, batches, jobs, calls and faults. */
  reset(): void;
  close(): Promise<void>;
}
