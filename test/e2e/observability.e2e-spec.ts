// What an operator reads: the JSON access log (one line per request, the request id on every
// line written while serving it, never a key or a file's or prompt's text) and /metrics
// (request, upstream, cache, upload, job, sweeper and pool series, with exact counts).
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { createTestApp, type TestApp } from '../utils/create-test-app';
import { expectEnvelope, get, uploadOk, uploadRequest } from '../utils/files-client';
import { accessLine, LogCapture } from '../utils/log-capture';

const METRICS_TOKEN = `metrics-token-${randomBytes(8).toString('hex')}`;

/** `name{labels}` → value, from the Prometheus text format. */
function parseMetrics(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

/** A series' value by name and labels (in any order); 0 when it does not exist yet. */
function valueOf(
  series: Map<string, number>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const [key, value] of series) {
    const brace = key.indexOf('{');
    const keyName = brace === -1 ? key : key.slice(0, brace);
    if (keyName !== name) continue;
    const have = brace === -1 ? [] : key.slice(brace + 1, -1).split(',');
    if (wanted.every((w) => have.includes(w))) total += value;
  }
  return total;
}

describe('Observability (e2e)', () => {
  const logs = new LogCapture();
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({
      logLevel: 'info',
      logDestination: logs,
      metricsToken: METRICS_TOKEN,
      // One pass at start-up, then none during the tests: the backlog stays as the test sets it.
      sweepIntervalMs: 3_600_000,
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  async function scrape(): Promise<Map<string, number>> {
    const res = await request(t.http)
      .get('/metrics')
      .set('authorization', `Bearer ${METRICS_TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseMetrics(res.text);
  }

  function chat(text: string, fileId: string): request.Test {
    return request(t.http)
      .post('/v1/chat/completions')
      .set('authorization', t.bearer('alice'))
      .send({
        model: 'gpt-4o-mini',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text },
              { type: 'file', file: { file_id: fileId } },
            ],
          },
        ],
      });
  }

  describe('access log', () => {
    it('should log a chat completion on a managed file with its id, route, status, caller, file and deployment, and no secret or text', async () => {
      const fileText = `file-text-${randomBytes(8).toString('hex')}`;
      const prompt = `prompt-text-${randomBytes(8).toString('hex')}`;
      const file = await uploadOk(t, {
        data: Buffer.from(`{"note":"${fileText}"}\n`),
        targets: 'gpt-4o-mini',
      });

      const res = await chat(prompt, file.id);

      expect(res.status).toBe(200);
      const completion = (res.body as { choices: Array<{ message: { content: string } }> })
        .choices[0].message.content;
      const answeredBy = (JSON.parse(completion) as { sim: string }).sim;
      const requestId = res.headers['x-request-id'];
      const line = await accessLine(logs, requestId);
      expect(line).toMatchObject({
        level: 'info',
        msg: 'request completed',
        request_id: requestId,
        method: 'POST',
        route: '/v1/chat/completions',
        status: 200,
        user_id: 'alice',
        unified_ids: [file.id],
        upstream: [{ deployment: answeredBy, operation: 'chat.completions', outcome: 'ok' }],
      });
      expect(typeof line.ms).toBe('number');
      expect((line.upstream as Array<{ ms: unknown }>)[0].ms).toEqual(expect.any(Number));
      // Nothing a log reader must not see, anywhere in the log.
      const everything = logs.raw.join('');
      for (const secret of [
        t.keys.alice,
        ...Object.values(t.simKeys),
        t.signingSecret,
        METRICS_TOKEN,
        fileText,
        prompt,
        completion,
      ]) {
        expect(everything).not.toContain(secret);
      }
      expect(everything.toLowerCase()).not.toContain('authorization');
      expect(everything).not.toContain('Bearer');
    });

    it("should name the file an upload created on the upload's access line, and in its log line", async () => {
      const res = await uploadRequest(t, { targets: 'gpt-4o-mini' });

      expect(res.status).toBe(200);
      const fileId = (res.body as { id: string }).id;
      const requestId = res.headers['x-request-id'];
      const line = await accessLine(logs, requestId);
      expect(line).toMatchObject({
        route: '/v1/files',
        status: 200,
        user_id: 'alice',
        unified_ids: [fileId],
      });
      const copied = logs
        .lines()
        .filter((l) => l.request_id === requestId && String(l.msg).includes('copied'));
      expect(copied).toHaveLength(1);
      expect(copied[0].msg).toContain(fileId);
    });

    it('should log a file retrieve under its route template, not its path', async () => {
      const file = await uploadOk(t);

      const res = await get(t, `/v1/files/${file.id}`, 'bob');

      expect(res.status).toBe(403);
      const line = await accessLine(logs, res.headers['x-request-id']);
      expect(line).toMatchObject({
        method: 'GET',
        route: '/v1/files/:file_id',
        status: 403,
        user_id: 'bob',
        unified_ids: [file.id],
      });
      expect(line).not.toHaveProperty('upstream');
      expect(Object.keys(line)).not.toEqual(expect.arrayContaining(['url']));
    });

    it('should put the request id on the lines written while serving it, and every deployment tried on its access line', async () => {
      const file = await uploadOk(t, { targets: 'gpt-4o-mini' });
      for (const id of ['mini-openai-1', 'mini-openai-2']) {
        t.sims[id].addFault({ route: 'chat.completions', status: 503, times: 1 });
      }

      const res = await chat('summarise', file.id);

      expectEnvelope(res, 502);
      const requestId = res.headers['x-request-id'];
      const line = await accessLine(logs, requestId);
      expect(line).toMatchObject({ level: 'error', msg: 'request failed', status: 502 });
      const tried = (line.upstream as Array<{ deployment: string; outcome: string }>).map(
        (u) => `${u.deployment} ${u.outcome}`,
      );
      expect(tried.sort()).toEqual(['mini-openai-1 5xx', 'mini-openai-2 5xx']);
      // The router's failover warning, written deep in the call, carries the same id.
      const warning = logs
        .lines()
        .find((l) => l.level === 'warn' && String(l.msg).includes('failing over'));
      expect(warning).toMatchObject({
        request_id: requestId,
        context: 'ProviderRouterService',
      });
    });

    it('should label a path no route matches as one value', async () => {
      const res = await get(t, `/v1/nothing-here/${randomBytes(4).toString('hex')}`);

      expect(res.status).toBe(404);
      const line = await accessLine(logs, res.headers['x-request-id']);
      expect(line).toMatchObject({ route: 'unmatched', status: 404, method: 'GET' });
    });
  });

  describe('/metrics', () => {
    it('should ask for the metrics token, not an API key', async () => {
      const none = await request(t.http).get('/metrics');
      expectEnvelope(none, 401);
      const apiKey = await request(t.http).get('/metrics').set('authorization', t.bearer('admin'));
      expectEnvelope(apiKey, 401);
    });

    it('should count requests, upstream calls, cache lookups and upload bytes exactly', async () => {
      const content = Buffer.from('{"custom_id":"metrics"}\n'.repeat(10));
      const before0 = await scrape();
      const file = await uploadOk(t, { data: content, targets: 'gpt-4o-mini,gpt-4o' });
      // The first read puts the record in the cache; the reads counted below all hit it.
      expect((await get(t, `/v1/files/${file.id}`)).status).toBe(200);
      const before = await scrape();

      for (let i = 0; i < 3; i++) {
        expect((await get(t, `/v1/files/${file.id}`)).status).toBe(200);
      }
      for (let i = 0; i < 2; i++) {
        expect((await chat('summarise', file.id)).status).toBe(200);
      }
      expect((await get(t, '/v1/nothing-here/1')).status).toBe(404);
      const after = await scrape();

      const delta = (name: string, labels: Record<string, string> = {}): number =>
        valueOf(after, name, labels) - valueOf(before, name, labels);
      expect(
        delta('gateway_http_requests_total', {
          method: 'GET',
          route: '/v1/files/:file_id',
          status: '200',
        }),
      ).toBe(3);
      expect(
        delta('gateway_http_request_duration_seconds_count', {
          method: 'GET',
          route: '/v1/files/:file_id',
          status: '200',
        }),
      ).toBe(3);
      expect(
        delta('gateway_http_requests_total', {
          method: 'POST',
          route: '/v1/chat/completions',
          status: '200',
        }),
      ).toBe(2);
      expect(delta('gateway_http_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
      expect(
        delta('gateway_upstream_requests_total', { operation: 'chat.completions', outcome: 'ok' }),
      ).toBe(2);
      expect(
        delta('gateway_upstream_request_duration_seconds_count', {
          operation: 'chat.completions',
          outcome: 'ok',
        }),
      ).toBe(2);
      // One record per request (3 retrieves, 2 chats), each found in the cache.
      expect(delta('gateway_cache_lookups_total', { result: 'hit' })).toBe(5);
      expect(delta('gateway_cache_lookups_total', { result: 'miss' })).toBe(0);
      // The previous scrape is a request too, answered before this one counted it.
      expect(delta('gateway_http_requests_total', { route: '/metrics', status: '200' })).toBe(1);

      // The upload: one copy per deployment of both models, each of the file's size.
      for (const id of ['mini-openai-1', 'mini-openai-2', '4o-azure', '4o-openai']) {
        expect(
          valueOf(before, 'gateway_upload_fanout_bytes_total', { deployment: id }) -
            valueOf(before0, 'gateway_upload_fanout_bytes_total', { deployment: id }),
        ).toBe(content.length);
        expect(
          valueOf(before, 'gateway_upstream_requests_total', {
            deployment: id,
            operation: 'files.create',
            outcome: 'ok',
          }) -
            valueOf(before0, 'gateway_upstream_requests_total', {
              deployment: id,
              operation: 'files.create',
              outcome: 'ok',
            }),
        ).toBe(1);
      }
      // The spool wrote the file once for the four copies, and took some time doing it.
      const spooled = (name: string): number => valueOf(before, name) - valueOf(before0, name);
      expect(spooled('gateway_upload_spool_bytes_total')).toBe(content.length);
      expect(spooled('gateway_upload_spool_write_seconds_total')).toBeGreaterThan(0);
      // No label carries an id.
      const text = (
        await request(t.http).get('/metrics').set('authorization', `Bearer ${METRICS_TOKEN}`)
      ).text;
      expect(text).not.toContain(file.id);
    });

    it('should report job counts, the sweeper backlog and the database pool at scrape time', async () => {
      const file = await uploadOk(t);
      const idle = await scrape();
      expect(valueOf(idle, 'gateway_file_sweep_backlog')).toBe(0);
      // A deletion that stopped half-way a while ago: the sweeper's to finish.
      expect(file.status).toBe('processed');
      await t.dataSource.query(
        `UPDATE managed_files SET status = 'deleting', heartbeat_at = now() - interval '1 hour'
          WHERE id = (SELECT id FROM managed_files ORDER BY created_at DESC LIMIT 1)`,
      );
      const due = await t.dataSource.query<Array<{ n: number }>>(
        `SELECT count(*)::int AS n FROM managed_files WHERE status = 'deleting'`,
      );
      expect(due[0].n).toBe(1);

      const series = await scrape();

      expect(valueOf(series, 'gateway_file_sweep_backlog')).toBe(1);
      expect(series.has('gateway_jobs{queue="files-sweep",state="created"}')).toBe(true);
      expect(valueOf(series, 'gateway_db_pool_connections', { state: 'total' })).toBeGreaterThan(0);
      expect(series.has('process_cpu_seconds_total')).toBe(true);
      expect(series.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
    });
  });
});
