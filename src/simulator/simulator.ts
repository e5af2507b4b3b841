import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { DEFAULT_KEEP_ALIVE_TIMEOUT_MS } from '../config/env.schema';
import { BatchEngine } from './batch-engine';
import { CONTROL_PREFIX, handleControl } from './control-api';
import {
  chatCompletion,
  chatCompletionChunks,
  chatFileIds,
  responseFileIds,
  responseObject,
  responseStreamEvents,
} from './echo';
import { DropMeter, FaultBook, midBodyThreshold } from './faults';
import { FileRoutes } from './file-routes';
import { FileStore } from './file-store';
import { FineTuningEngine } from './fine-tuning-engine';
import { errorBody, notFound, SimHttpError, badRequest } from './http-errors';
import { parseAfter, parseLimit, readJsonObject, sendJson } from './http-io';
import { newApimRequestId, newRequestId } from './ids';
import { ResponseStore } from './response-store';
import { resolveRoute, type ResolvedRoute } from './route-table';
import { sendEvents } from './sse';
import { Throttle } from './throttle';
import type {
  CallRecord,
  Dialect,
  FaultRule,
  SimulatedUpstream,
  SimulatorOptions,
  SimRoute,
  StoredFile,
} from './types';

export type {
  CallRecord,
  Dialect,
  FaultRule,
  SimRoute,
  SimulatedUpstream,
  SimulatorOptions,
  StoredFile,
} from './types';

const DEFAULT_STATUS_STEP_MS = 200;
const MAX_CALL_RECORDS = 10_000;
const BODY_ROUTES: ReadonlySet<SimRoute> = new Set<SimRoute>([
  'files.create',
  'chat.completions',
  'responses',
  'batches.create',
  'fine_tuning.create',
]);

/** Starts a simulated OpenAI-compatible provider on real loopback HTTP. */
export async function startSimulator(options: SimulatorOptions): Promise<SimulatedUpstream> {
  validateOptions(options);
  const store = await FileStore.create(options.persistDir);
  const simulator = new Simulator(options, store);
  try {
    await simulator.listen(options.host ?? '127.0.0.1', options.port ?? 0);
  } catch (error: unknown) {
    await store.close();
    throw error;
  }
  return simulator;
}

function validateOptions(options: SimulatorOptions): void {
  // Typed callers cannot get this wrong, but the CLI and JS callers can.
  const dialect: string = options.dialect;
  if (dialect !== 'openai' && dialect !== 'azure') {
    throw new TypeError(`dialect must be 'openai' or 'azure', got ${dialect}`);
  }
  const bandwidth = options.bandwidthBytesPerSec;
  if (bandwidth !== undefined && !(bandwidth > 0 && Number.isFinite(bandwidth))) {
    throw new RangeError('bandwidthBytesPerSec must be a positive number');
  }
  const step = options.statusStepMs;
  if (step !== undefined && !(step >= 0 && Number.isFinite(step))) {
    throw new RangeError('statusStepMs must be a non-negative number');
  }
}

interface Dispatch {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  resolved: ResolvedRoute;
  body: Readable;
  /** A 'mid-body' fault on files.content: send part of the content, then drop. */
  partialContent: boolean;
  /** Gap between the events of a streamed answer (a `chunkDelayMs` fault). */
  chunkDelayMs: number;
  /** Aborts when the client goes away or the simulator closes: stops a stream mid-way. */
  gone: AbortSignal;
  record: CallRecord;
}

class Simulator implements SimulatedUpstream {
  readonly dialect: Dialect;
  port = 0;
  apiBase = '';
  name = '';
  readonly calls: CallRecord[] = [];

  get responseIds(): readonly string[] {
    return this.responseStore.ids();
  }

  private readonly server: Server;
  private readonly faults = new FaultBook();
  private readonly stepMs: number;
  // Aborts fault latencies still sleeping when the simulator closes.
  private readonly closing = new AbortController();
  private closed: Promise<void> | undefined;
  private batches!: BatchEngine;
  private jobs!: FineTuningEngine;
  private fileRoutes!: FileRoutes;
  private readonly responseStore: ResponseStore;

  constructor(
    private readonly options: SimulatorOptions,
    private readonly store: FileStore,
  ) {
    this.dialect = options.dialect;
    this.stepMs = options.statusStepMs ?? DEFAULT_STATUS_STEP_MS;
    this.responseStore = new ResponseStore(this.stepMs);
    // No request timeout: a throttled 1 GiB upload legitimately takes minutes. Idle
    // connections are kept as long as the gateway keeps its own by default, not Node's 5 s: a
    // client that pauses longer than that (the benchmarks, busy building their files) found its
    // pooled connection closed and its next POST failed ("other side closed").
    const serverOptions = { requestTimeout: 0, keepAliveTimeout: DEFAULT_KEEP_ALIVE_TIMEOUT_MS };
    this.server = createServer(serverOptions, (req, res) => {
      this.handle(req, res);
    });
  }

  get files(): ReadonlyMap<string, StoredFile> {
    return this.store.files;
  }

  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    // A wildcard bind is still reached over loopback; IPv6 literals need brackets in a URL.
    const urlHost =
      host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    const origin = `http://${urlHost}:${String(this.port)}`;
    this.apiBase = this.dialect === 'openai' ? `${origin}/v1` : origin;
    this.name = this.options.name ?? `${this.dialect}-sim-${String(this.port)}`;
    // The engines echo the simulator's name, which depends on the port known only now.
    this.batches = new BatchEngine(this.store, this.dialect, this.name, this.stepMs);
    this.jobs = new FineTuningEngine(this.store, this.dialect, this.name, this.stepMs);
    this.fileRoutes = new FileRoutes({
      dialect: this.dialect,
      store: this.store,
      discardContent: this.options.discardContent ?? false,
      countOnly: (this.options.discardContent ?? false) && (this.options.countOnly ?? false),
      refreshGenerated: () => this.refreshGenerated(),
    });
  }

  addFault(rule: FaultRule): void {
    this.faults.add(rule);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  reset(): void {
    this.faults.clear();
    // Emptied in place: callers may hold on to `calls` / `files`.
    this.calls.length = 0;
    this.batches.reset();
    this.jobs.reset();
    this.responseStore.reset();
    this.store.clear();
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing.abort();
      const stopped = new Promise<void>((resolve) => {
        this.server.close(() => {
          resolve();
        });
      });
      this.server.closeAllConnections();
      await stopped;
      await this.store.close();
    })();
    return this.closed;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.dispatch(req, res).catch((error: unknown) => {
      this.fail(res, error);
    });
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const method = req.method ?? 'GET';
    if (url.pathname.startsWith(CONTROL_PREFIX)) {
      await handleControl(
        {
          addFault: (rule) => {
            this.addFault(rule);
          },
          clearFaults: () => {
            this.clearFaults();
          },
          reset: () => {
            this.reset();
          },
          snapshot: async () => {
            await this.refreshGenerated();
            return { files: [...this.store.files.values()], calls: this.calls };
          },
        },
        req,
        res,
        url.pathname,
      );
      return;
    }

    const resolved = resolveRoute(this.dialect, method, url.pathname);
    // Long benchmark runs must not grow memory without bound: keep the most recent calls only.
    if (this.calls.length >= MAX_CALL_RECORDS) this.calls.splice(0, MAX_CALL_RECORDS / 10);
    const record: CallRecord = {
      route: resolved?.route ?? 'unknown',
      method,
      path: req.url ?? '/',
      at: Date.now(),
      headers: flattenHeaders(req),
      closedEarly: false,
    };
    this.calls.push(record);
    // Lets tests see that a caller's abort reached the upstream as a closed request.
    const left = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) {
        record.closedEarly = true;
        left.abort();
      }
    });
    if (this.dialect === 'azure') {
      const apimId = newApimRequestId();
      res.setHeader('apim-request-id', apimId);
      res.setHeader('x-request-id', apimId);
    } else {
      res.setHeader('x-request-id', newRequestId());
    }
    this.authenticate(req);
    this.checkApiVersion(url);

    const fault = this.faults.take(resolved?.route ?? 'unknown');
    let midBody = false;
    let partialContent = false;
    if (fault) {
      if (fault.latencyMs) await delay(fault.latencyMs, undefined, { signal: this.closing.signal });
      if (fault.dropConnection === 'before-response') {
        req.socket.destroy();
        return;
      }
      if (fault.dropConnection === 'mid-body') {
        if (resolved?.route === 'files.content') {
          partialContent = true;
        } else if (hasBody(req)) {
          midBody = true;
        } else {
          req.socket.destroy();
          return;
        }
      } else if (fault.status !== undefined) {
        const headers: Record<string, string> =
          fault.retryAfterSeconds === undefined
            ? {}
            : { 'retry-after': String(fault.retryAfterSeconds) };
        throw new SimHttpError(
          fault.status,
          `Simulated fault: HTTP ${String(fault.status)}.`,
          null,
          null,
          null,
          headers,
        );
      }
    }
    if (!resolved) {
      throw new SimHttpError(404, `Unknown route: ${method} ${url.pathname}`, null, 'unknown_url');
    }
    const body = this.openBody(req, midBody);
    await this.route({
      req,
      res,
      url,
      resolved,
      body,
      partialContent,
      chunkDelayMs: fault?.chunkDelayMs ?? 0,
      record,
      gone: AbortSignal.any([left.signal, this.closing.signal]),
    });
  }

  /** The request body as handlers read it: through the mid-body fault meter and the throttle. */
  private openBody(req: IncomingMessage, midBody: boolean): Readable {
    const stages: NodeJS.ReadWriteStream[] = [];
    if (midBody) {
      const length = Number(req.headers['content-length']);
      const threshold = midBodyThreshold(Number.isFinite(length) ? length : undefined);
      stages.push(new DropMeter(threshold, () => req.socket.destroy()));
    }
    if (this.options.bandwidthBytesPerSec !== undefined) {
      stages.push(new Throttle(this.options.bandwidthBytesPerSec));
    }
    if (stages.length === 0) return req;
    // pipeline (unlike pipe) tears every stage down when the client aborts; the handler sees the
    // error on the last stage, so the callback has nothing left to do.
    return pipeline([req, ...stages], () => undefined) as unknown as Readable;
  }

  private async route(d: Dispatch): Promise<void> {
    const id = d.resolved.params.id ?? '';
    const query = d.url.searchParams;
    // Routes that take no body still read whatever was sent, so a 'mid-body' fault trips and a
    // throttled link is honoured for every request alike.
    if (!BODY_ROUTES.has(d.resolved.route)) await this.drain(d.body);
    switch (d.resolved.route) {
      case 'files.create':
        await this.fileRoutes.create(d.req, d.body, d.res);
        return;
      case 'files.list':
        await this.fileRoutes.list(d.url, d.res);
        return;
      case 'files.retrieve':
        this.fileRoutes.retrieve(id, d.res);
        return;
      case 'files.content':
        await this.fileRoutes.content(id, d.res, d.partialContent);
        return;
      case 'files.delete':
        this.fileRoutes.delete(id, d.res);
        return;
      case 'chat.completions':
        await this.chat(d);
        return;
      case 'responses':
        await this.responses(d);
        return;
      case 'responses.retrieve':
        sendJson(d.res, 200, this.responseStore.retrieve(id));
        return;
      case 'responses.delete':
        sendJson(d.res, 200, this.responseStore.delete(id));
        return;
      case 'responses.input_items':
        sendJson(d.res, 200, this.responseStore.inputItems(id, query));
        return;
      case 'responses.cancel':
        sendJson(d.res, 200, this.responseStore.cancel(id));
        return;
      case 'batches.create': {
        const body = await readJsonObject(d.body);
        sendJson(d.res, 200, this.batches.create(body, d.resolved.params.deployment));
        return;
      }
      case 'batches.list':
        sendJson(
          d.res,
          200,
          await this.batches.list(parseAfter(query), parseLimit(query, 20, 100)),
        );
        return;
      case 'batches.retrieve':
        sendJson(d.res, 200, await this.batches.retrieve(id));
        return;
      case 'batches.cancel':
        sendJson(d.res, 200, await this.batches.cancel(id));
        return;
      case 'fine_tuning.create': {
        const body = await readJsonObject(d.body);
        d.record.body = body;
        // Azure's dated API answers job creation with 201 (reference §7).
        sendJson(d.res, this.dialect === 'azure' ? 201 : 200, this.jobs.create(body));
        return;
      }
      case 'fine_tuning.list':
        sendJson(d.res, 200, await this.jobs.list(parseAfter(query), parseLimit(query, 20, 1000)));
        return;
      case 'fine_tuning.retrieve':
        sendJson(d.res, 200, await this.jobs.retrieve(id));
        return;
      case 'fine_tuning.cancel':
        sendJson(d.res, 200, await this.jobs.cancel(id));
        return;
      case 'fine_tuning.pause':
        sendJson(d.res, 200, await this.jobs.pause(id));
        return;
      case 'fine_tuning.resume':
        sendJson(d.res, 200, await this.jobs.resume(id));
        return;
      case 'fine_tuning.events':
        sendJson(
          d.res,
          200,
          await this.jobs.events(id, parseAfter(query), parseLimit(query, 20, 100)),
        );
        return;
      case 'fine_tuning.checkpoints':
        sendJson(
          d.res,
          200,
          await this.jobs.checkpoints(id, parseAfter(query), parseLimit(query, 10, 100)),
        );
        return;
    }
  }

  private async chat(d: Dispatch): Promise<void> {
    const body = await readJsonObject(d.body);
    d.record.body = body;
    const model =
      typeof body.model === 'string' && body.model !== ''
        ? body.model
        : d.resolved.params.deployment;
    if (model === undefined) throw badRequest("Missing required parameter: 'model'.", 'model');
    if (!Array.isArray(body.messages)) {
      throw badRequest("Missing required parameter: 'messages'.", 'messages');
    }
    const fileIds = chatFileIds(body);
    this.requireFiles(fileIds);
    const completion = chatCompletion(this.name, model, body, fileIds);
    if (body.stream !== true) {
      sendJson(d.res, 200, completion);
      return;
    }
    const options = body.stream_options;
    const includeUsage =
      typeof options === 'object' && options !== null && 'include_usage' in options
        ? options.include_usage === true
        : false;
    const events = chatCompletionChunks(completion, includeUsage).map((data) => ({ data }));
    await sendEvents(d.res, events, { gapMs: d.chunkDelayMs, trailer: '[DONE]', signal: d.gone });
  }

  private async responses(d: Dispatch): Promise<void> {
    const body = await readJsonObject(d.body);
    d.record.body = body;
    if (typeof body.model !== 'string' || body.model === '') {
      throw badRequest("Missing required parameter: 'model'.", 'model');
    }
    const fileIds = responseFileIds(body);
    this.requireFiles(fileIds);
    this.responseStore.requirePrevious(body);
    const response = responseObject(this.name, body.model, body, fileIds);
    const created = this.responseStore.create(response, body);
    if (body.stream !== true) {
      sendJson(d.res, 200, created);
      return;
    }
    await sendEvents(d.res, responseStreamEvents(response), {
      gapMs: d.chunkDelayMs,
      signal: d.gone,
    });
  }

  /** OpenAI answers 404 when a request references a file it does not have. */
  private requireFiles(fileIds: readonly string[]): void {
    for (const fileId of fileIds) {
      if (!this.store.get(fileId)) throw notFound('File', fileId);
    }
  }

  /** Reads and drops a body nobody needs, so a 'mid-body' fault still sees it flow. */
  private async drain(body: Readable): Promise<void> {
    body.resume();
    await finished(body);
  }

  private authenticate(req: IncomingMessage): void {
    const key = this.options.apiKey;
    if (key === undefined) return;
    if (this.dialect === 'azure') {
      if (req.headers['api-key'] === key) return;
      throw new SimHttpError(
        401,
        'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
        null,
        null,
        'unauthorized',
      );
    }
    if (req.headers.authorization === `Bearer ${key}`) return;
    throw new SimHttpError(
      401,
      'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.',
      null,
      'invalid_api_key',
    );
  }

  /** Azure's dated API refuses calls without `api-version` (reference §7). */
  private checkApiVersion(url: URL): void {
    if (this.dialect !== 'azure') return;
    const version = url.searchParams.get('api-version');
    if (version === null || version === '') {
      throw badRequest("Missing required query parameter 'api-version'.", 'api-version');
    }
    const expected = this.options.apiVersion;
    if (expected !== undefined && version !== expected) {
      throw badRequest(
        `Unsupported api-version '${version}'. This simulator accepts '${expected}'.`,
        'api-version',
      );
    }
  }

  private async refreshGenerated(): Promise<void> {
    await Promise.all([this.batches.refreshAll(), this.jobs.refreshAll()]);
  }

  /** Renders a handler failure, or drops the connection when an answer can no longer be sent. */
  private fail(res: ServerResponse, error: unknown): void {
    if (res.headersSent || res.destroyed || res.socket?.destroyed !== false) {
      res.destroy();
      return;
    }
    const httpError =
      error instanceof SimHttpError
        ? error
        : new SimHttpError(
            500,
            `Simulator error: ${error instanceof Error ? error.message : String(error)}`,
          );
    sendJson(res, httpError.status, errorBody(this.dialect, httpError), { ...httpError.headers });
  }
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}
