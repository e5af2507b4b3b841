// Traces: the gateway started as a process of its own (main.ts, as in production) with an OTLP
// endpoint set to a collector stand-in, in front of simulated deployments that record the
// headers they receive. Jest's module loader would hide the patching OpenTelemetry does as
// modules load, so the gateway under test is never the in-process app.
import { createTestApp, type TestApp } from '../utils/create-test-app';
import { startGatewayProcess, type GatewayProcess } from '../utils/gateway-process';
import { waitFor } from '../utils/http';
import {
  startOtlpCollector,
  type CollectedSpan,
  type OtlpCollector,
} from '../utils/otlp-collector';

const UNDICI_SCOPE = '@opentelemetry/instrumentation-undici';
const PG_SCOPE = '@opentelemetry/instrumentation-pg';
const HTTP_SCOPE = '@opentelemetry/instrumentation-http';
const FILENAME = 'traced-upload.jsonl';
const FILE_LINE = '{"prompt":"a line only the upstreams may see"}\n';

interface TraceParent {
  readonly traceId: string;
  readonly parentId: string;
  readonly sampled: boolean;
}

/** W3C Trace Context `traceparent`: version-traceid-parentid-flags. */
function parseTraceParent(header: string | undefined): TraceParent {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(header ?? '');
  if (!match) throw new Error(`not a traceparent: ${String(header)}`);
  return { traceId: match[1], parentId: match[2], sampled: (parseInt(match[3], 16) & 1) === 1 };
}

describe('Traces (OpenTelemetry, OTLP)', () => {
  let t: TestApp;
  let collector: OtlpCollector;
  let gateway: GatewayProcess | undefined;
  let exit: string;
  let uploadRequestId: string;
  let chatRequestId: string;
  let fileId: string;

  beforeAll(async () => {
    collector = await startOtlpCollector();
    // Two deployments of one model: an upload is a trace with two upstream calls.
    t = await createTestApp({
      deployments: [
        { id: 'm-openai', modelName: 'model-m', dialect: 'openai' },
        { id: 'm-azure', modelName: 'model-m', dialect: 'azure' },
      ],
    });
    gateway = await startGatewayProcess(t, {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      // Nothing is exported on a timer during the test: what arrives came from the flush the
      // gateway does when it stops.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    });
    const auth = { authorization: t.bearer('alice') };

    const form = new FormData();
    form.append('purpose', 'user_data');
    form.append('target_model_names', 'model-m');
    form.append('file', new Blob([FILE_LINE]), FILENAME);
    const upload = await fetch(`${gateway.baseUrl}/v1/files`, {
      method: 'POST',
      headers: auth,
      body: form,
    });
    expect(upload.status).toBe(200);
    fileId = ((await upload.json()) as { id: string }).id;
    uploadRequestId = upload.headers.get('x-request-id') ?? '';

    const retrieve = await fetch(`${gateway.baseUrl}/v1/files/${fileId}`, { headers: auth });
    expect(retrieve.status).toBe(200);

    const chat = await fetch(`${gateway.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'model-m',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'summarise' },
              { type: 'file', file: { file_id: fileId } },
            ],
          },
        ],
      }),
    });
    expect(chat.status).toBe(200);
    chatRequestId = chat.headers.get('x-request-id') ?? '';

    exit = await gateway.stop();
    gateway = undefined;
  }, 180_000);

  afterAll(async () => {
    await gateway?.stop().catch(() => undefined);
    await t?.close();
    await collector?.close();
  });

  const serverSpan = (name: string): CollectedSpan => {
    const found = collector.spans.filter((s) => s.kind === 'server' && s.name === name);
    expect(found).toHaveLength(1);
    return found[0];
  };
  const traceOf = (root: CollectedSpan): CollectedSpan[] =>
    collector.spans.filter((s) => s.traceId === root.traceId);
  /** True when `span` is `root` or below it. */
  const descendsFrom = (span: CollectedSpan, root: CollectedSpan): boolean => {
    const byId = new Map(traceOf(root).map((s) => [s.spanId, s]));
    for (let at: CollectedSpan | undefined = span; at; at = byId.get(at.parentSpanId)) {
      if (at.spanId === root.spanId) return true;
    }
    return false;
  };
  /** The traceparent one simulator received on a route, and the gateway's span it names. */
  const upstreamCall = (deployment: string, route: string): [TraceParent, CollectedSpan[]] => {
    const calls = t.sims[deployment].calls.filter((c) => c.route === route);
    expect(calls).toHaveLength(1);
    const parent = parseTraceParent(calls[0].headers.traceparent);
    const spans = collector.spans.filter(
      (s) => s.traceId === parent.traceId && s.spanId === parent.parentId,
    );
    return [parent, spans];
  };

  it('should flush the spans when the gateway stops on SIGTERM, and refuse nothing it sent', () => {
    expect(exit).toBe('SIGTERM');
    expect(collector.refused).toEqual([]);
    expect(collector.spans.length).toBeGreaterThan(0);
    expect(new Set(collector.spans.map((s) => s.resource['service.name']))).toEqual(
      new Set(['managed-files-gateway']),
    );
  });

  it('should trace an upload as one request whose upstream spans carry the traceparent each deployment received, with its database queries', () => {
    const root = serverSpan('POST /v1/files');
    expect(root.parentSpanId).toBe('');
    expect(root.attributes['http.route']).toBe('/v1/files');
    expect(root.attributes['http.response.header.x-request-id']).toEqual([uploadRequestId]);

    for (const [deployment, sim] of Object.entries(t.sims)) {
      const [parent, spans] = upstreamCall(deployment, 'files.create');
      expect(parent).toMatchObject({ traceId: root.traceId, sampled: true });
      expect(spans).toHaveLength(1);
      expect(spans[0]).toMatchObject({ kind: 'client', scope: UNDICI_SCOPE });
      expect(String(spans[0].attributes['url.full'])).toMatch(
        new RegExp(`^${new URL(sim.apiBase).origin}/`),
      );
      expect(descendsFrom(spans[0], root)).toBe(true);
    }

    const queries = traceOf(root)
      .filter((s) => s.scope === PG_SCOPE && typeof s.attributes['db.query.text'] === 'string')
      .map((s) => String(s.attributes['db.query.text']));
    expect(queries).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^INSERT INTO "managed_files"/),
        expect.stringMatching(/^INSERT INTO "managed_file_copies"/),
      ]),
    );
  });

  it('should trace a chat call naming a managed file, its upstream span carrying the traceparent the simulator received', () => {
    const root = serverSpan('POST /v1/chat/completions');
    expect(root.attributes['http.route']).toBe('/v1/chat/completions');
    expect(root.attributes['http.response.header.x-request-id']).toEqual([chatRequestId]);

    const called = Object.keys(t.sims).filter((id) =>
      t.sims[id].calls.some((c) => c.route === 'chat.completions'),
    );
    expect(called).toHaveLength(1);
    const [parent, spans] = upstreamCall(called[0], 'chat.completions');
    expect(parent.traceId).toBe(root.traceId);
    expect(spans).toHaveLength(1);
    expect(spans[0]).toMatchObject({ kind: 'client', scope: UNDICI_SCOPE });
    expect(descendsFrom(spans[0], root)).toBe(true);
  });

  it('should name a request by its route template, not by the id in its path', () => {
    const root = serverSpan('GET /v1/files/:file_id');
    expect(root.attributes['http.route']).toBe('/v1/files/:file_id');
    expect(root.attributes['url.path']).toBe(`/v1/files/${fileId}`);
  });

  it('should leave probes untraced, and database polls outside requests out', () => {
    const server = collector.spans.filter((s) => s.scope === HTTP_SCOPE && s.kind === 'server');
    expect(server.map((s) => s.name).sort()).toEqual([
      'GET /v1/files/:file_id',
      'POST /v1/chat/completions',
      'POST /v1/files',
    ]);
    // Every span belongs to one of those three requests.
    expect(new Set(collector.spans.map((s) => s.traceId))).toEqual(
      new Set(server.map((s) => s.traceId)),
    );
  });

  it('should put no API key, file content or filename in any span', () => {
    const exported = JSON.stringify(collector.spans);
    for (const secret of [...Object.values(t.keys), ...Object.values(t.simKeys)]) {
      expect(exported).not.toContain(secret);
    }
    expect(exported).not.toContain('a line only the upstreams may see');
    expect(exported).not.toContain(FILENAME);
  });
});

describe('Traces to a collector that cannot be reached', () => {
  let t: TestApp;
  let gateway: GatewayProcess | undefined;

  beforeAll(async () => {
    t = await createTestApp({
      deployments: [{ id: 'm-openai', modelName: 'model-m', dialect: 'openai' }],
    });
  });

  afterAll(async () => {
    await gateway?.stop().catch(() => undefined);
    await t?.close();
  });

  it('should keep serving, and say in its log that spans could not be exported', async () => {
    const gone = await startOtlpCollector();
    await gone.close();
    gateway = await startGatewayProcess(t, {
      OTEL_EXPORTER_OTLP_ENDPOINT: gone.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
    });
    const chat = await fetch(`${gateway.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: t.bearer('alice'), 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'model-m', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(chat.status).toBe(200);
    const running = gateway;
    await waitFor(
      () => /OpenTelemetry.*spans may be lost: connect ECONNREFUSED/.test(running.output()),
      'a log line about the failed export',
      15_000,
    );
  }, 120_000);
});
