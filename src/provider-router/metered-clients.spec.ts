// The upstream series and the access line's upstream notes, with a fake adapter: each call is
// counted once under its operation and a bounded outcome, and noted on the request being served.
import { Readable } from 'node:stream';
import { pino } from 'pino';
import type { DataSource } from 'typeorm';
import { MetricsService } from '../observability/metrics.service';
import { runWithRequestStore, type RequestStore } from '../observability/request-store';
import { meteredClients } from './metered-clients';
import { ProviderError, type ProviderClient, type ProviderClients } from './provider-client';
import { fakeDeployment } from './router.fixture';

const deployment = fakeDeployment('dep-a');

function client(fail: ProviderError | null): ProviderClient {
  const settle = <T>(value: T): Promise<T> =>
    fail ? Promise.reject(fail) : Promise.resolve(value);
  return {
    uploadFile: () =>
      settle({
        id: 'f',
        filename: 'x',
        purpose: 'user_data',
        bytes: 42,
        createdAt: 1,
        expiresAt: null,
      }),
    deleteFile: () => settle(undefined),
    fileContent: () =>
      settle({ contentType: 'text/plain', contentLength: null, body: Readable.from([]) }),
    listFiles: () => settle({ data: [], hasMore: false }),
    call: () =>
      settle({
        kind: 'json' as const,
        status: 200,
        body: {},
        text: '{}',
        headers: { requestId: null, retryAfter: null, retryAfterMs: null, processingMs: null },
      }),
  };
}

function metered(fail: ProviderError | null): {
  metrics: MetricsService;
  clients: ProviderClients;
} {
  const metrics = new MetricsService({ driver: {} } as unknown as DataSource);
  const fake = client(fail);
  return { metrics, clients: meteredClients({ openai: fake, azure: fake }, metrics) };
}

async function count(metrics: MetricsService, name: string, labels: string): Promise<number> {
  const text = (await metrics.scrape()).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('meteredClients', () => {
  it('should count a model call under its operation and note it on the request being served', async () => {
    const { metrics, clients } = metered(null);
    const store: RequestStore = { log: pino({ level: 'silent' }), refs: null, upstream: null };

    await runWithRequestStore(store, () =>
      clients.openai.call(deployment, { operation: 'chat.completions', body: {} }),
    );

    expect(
      await count(
        metrics,
        'gateway_upstream_requests_total',
        'deployment="dep-a",operation="chat.completions",outcome="ok"',
      ),
    ).toBe(1);
    expect(store.upstream).toEqual([
      { deployment: 'dep-a', operation: 'chat.completions', outcome: 'ok', ms: expect.any(Number) },
    ]);
  });

  it('should count the bytes of a stored copy under its deployment', async () => {
    const { metrics, clients } = metered(null);

    await clients.openai.uploadFile(deployment, {
      purpose: 'user_data',
      filename: 'x',
      mimeType: 'text/plain',
      expiresAfterSeconds: null,
      openBody: () => Readable.from([]),
    });

    expect(await count(metrics, 'gateway_upload_fanout_bytes_total', 'deployment="dep-a"')).toBe(
      42,
    );
  });

  it.each([
    [new ProviderError('limited', 429, 'rate_limit_exceeded'), '429'],
    [new ProviderError('bad', 400, 'invalid_value'), '4xx'],
    [new ProviderError('down', 503, null), '5xx'],
    [new ProviderError('slow', null, null, true), 'timeout'],
    [new ProviderError('reset', null, 'ECONNRESET'), 'no_answer'],
    [new ProviderError('gone', null, 'aborted'), 'aborted'],
  ])('should label a failure %p as %s and rethrow it', async (error, outcome) => {
    const { metrics, clients } = metered(error);

    await expect(clients.azure.deleteFile(deployment, 'f')).rejects.toBe(error);

    expect(
      await count(
        metrics,
        'gateway_upstream_requests_total',
        `deployment="dep-a",operation="files.delete",outcome="${outcome}"`,
      ),
    ).toBe(1);
  });
});
