import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Span kinds as OTLP numbers them (opentelemetry-proto trace.proto, SpanKind). */
const SPAN_KINDS = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'] as const;
export type SpanKindName = (typeof SPAN_KINDS)[number];

export type AttributeValue = string | number | boolean | AttributeValue[] | null;

/** One exported span, flattened from OTLP/JSON for assertions. */
export interface CollectedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: SpanKindName;
  /** The instrumentation scope that made it (`@opentelemetry/instrumentation-undici`, ...). */
  readonly scope: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly resource: Readonly<Record<string, AttributeValue>>;
}

/**
 * A stand-in for an OpenTelemetry collector: OTLP/HTTP with JSON bodies on /v1/traces (what
 * the SDK sends with OTEL_EXPORTER_OTLP_PROTOCOL=http/json), keeping every span it receives.
 * Any other protocol or path is refused loudly (415/404), so a misconfigured exporter fails
 * the test instead of passing it with no spans.
 */
export interface OtlpCollector {
  /** http://127.0.0.1:<port>, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly endpoint: string;
  readonly spans: readonly CollectedSpan[];
  /** Requests refused, as `<status> <method> <path> <content-type>`. */
  readonly refused: readonly string[];
  close(): Promise<void>;
}

export async function startOtlpCollector(): Promise<OtlpCollector> {
  const spans: CollectedSpan[] = [];
  const refused: string[] = [];
  const server = createServer((req, res) => {
    void receive(req, res, spans, refused);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    refused,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

async function receive(
  req: IncomingMessage,
  res: ServerResponse,
  spans: CollectedSpan[],
  refused: string[],
): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const contentType = req.headers['content-type'] ?? '';
  const refuse = (status: number): void => {
    refused.push(`${status} ${req.method} ${req.url} ${contentType}`);
    res.writeHead(status).end();
  };
  if (req.method !== 'POST' || req.url !== '/v1/traces') return refuse(404);
  if (!contentType.startsWith('application/json')) return refuse(415);
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return refuse(400);
  }
  spans.push(...flatten(body));
  // ExportTraceServiceResponse: an empty object is full success.
  res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
}

interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}
interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
  attributes?: OtlpKeyValue[];
}
interface OtlpRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: Array<{ scope?: { name?: string }; spans?: OtlpSpan[] }>;
  }>;
}

/** ExportTraceServiceRequest in the OTLP/JSON mapping (ids as hex, enums as numbers). */
function flatten(body: unknown): CollectedSpan[] {
  const out: CollectedSpan[] = [];
  for (const rs of (body as OtlpRequest).resourceSpans ?? []) {
    const resource = attributesOf(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        out.push({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? '',
          name: span.name,
          kind: SPAN_KINDS[span.kind ?? 0] ?? 'unspecified',
          scope: ss.scope?.name ?? '',
          attributes: attributesOf(span.attributes),
          resource,
        });
      }
    }
  }
  return out;
}

function attributesOf(list: readonly OtlpKeyValue[] | undefined): Record<string, AttributeValue> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, valueOf(kv.value)]));
}

function valueOf(value: OtlpAnyValue): AttributeValue {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(valueOf);
  return null;
}
