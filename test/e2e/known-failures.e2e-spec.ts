// Known failure modes of LiteLLM's managed-files implementation (and pitfalls of the stack) that
// the existing e2e suites did not yet cover, one test each. Every test name states the behaviour
// a user relies on and cites where the failure mode is documented (see
// /work/shared/reference/litellm-managed-files.md, openai-api.md and dependency-notes.md).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger, type INestApplication } from '@nestjs/common';
import busboy from 'busboy';
import { Client } from 'pg';
import request, { type Test } from 'supertest';
import { DataSource } from 'typeorm';
import { stringify as toYaml } from 'yaml';
import { loadAppConfig } from '../../src/config/load-app-config';
import { createApp } from '../../src/create-app';
import { FileSweeperService } from '../../src/files/file-sweeper.service';
import {
  adminQuery,
  AZURE_API_VERSION,
  callsTo,
  createTestApp,
  DEFAULT_DEPLOYMENTS,
  filesHeld,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  type DeploymentSpec,
  type TestApp,
} from '../utils/create-test-app';
import { copyRows, fileRows, seedFile, type FileObjectBody } from '../utils/factories';
import {
  binaryBody,
  BOTH_MODELS,
  del,
  expectEnvelope,
  get,
  listAs,
  uploadOk,
  uploadRequest,
} from '../utils/files-client';
import { jsonlContent, waitFor } from '../utils/http';

const ALL_DEPLOYMENT_IDS = DEFAULT_DEPLOYMENTS.map((d) => d.id);
const MINI_IDS = ['mini-openai-1', 'mini-openai-2'];
const GPT4O_IDS = ['4o-azure', '4o-openai'];
const TRUSTED = {
  secretHeader: 'x-gateway-secret',
  secret: `trusted-${randomBytes(12).toString('hex')}`,
};

/** Every provider file id any simulator holds. */
function providerIds(t: TestApp): string[] {
  return Object.values(t.sims).flatMap((sim) => [...sim.files.keys()]);
}

/** Internal (database) id of the only managed file. */
async function onlyRowId(t: TestApp): Promise<string> {
  const rows = await fileRows(t.dataSource);
  expect(rows).toHaveLength(1);
  return rows[0].id;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// A second gateway process on a database of the test's choosing (restarts, config edits,
// replicas, the embedded database). It reuses the simulated deployments and keys of a TestApp.
// ---------------------------------------------------------------------------------------------

interface Gateway {
  readonly app: INestApplication;
  readonly http: Server;
  readonly baseUrl: string;
  close(): Promise<void>;
}

interface GatewayOptions {
  readonly yaml: string;
  /** null: the embedded database in `dataDir`. */
  readonly databaseUrl: string | null;
  readonly secret: string;
  readonly redisUrl: string | null;
  readonly dataDir?: string;
  /** SWEEP_INTERVAL_MS (default 60 s). */
  readonly sweepIntervalMs?: number;
}

async function bootGateway(options: GatewayOptions): Promise<Gateway> {
  const dir = await mkdtemp(join(tmpdir(), 'mfg-kf-'));
  try {
    const configPath = join(dir, 'config.yaml');
    await writeFile(configPath, options.yaml);
    const config = loadAppConfig({
      CONFIG_PATH: configPath,
      ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
      ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
      ID_SIGNING_SECRET: options.secret,
      DATA_DIR: options.dataDir ?? join(dir, 'data'),
      LOG_LEVEL: 'error',
      UPSTREAM_TIMEOUT_MS: '15000',
      ...(options.sweepIntervalMs === undefined
        ? {}
        : { SWEEP_INTERVAL_MS: String(options.sweepIntervalMs) }),
    });
    const app = await createApp(config);
    await app.listen(0, '127.0.0.1');
    const http = app.getHttpServer() as Server;
    const { port } = http.address() as AddressInfo;
    let closed = false;
    return {
      app,
      http,
      baseUrl: `http://127.0.0.1:${port}`,
      close: async () => {
        if (closed) return;
        closed = true;
        await app.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The TestApp helpers (uploadRequest, get, del, listAs…) pointed at another gateway. */
function through(t: TestApp, gateway: Gateway): TestApp {
  return {
    ...t,
    app: gateway.app,
    http: gateway.http,
    baseUrl: gateway.baseUrl,
    dataSource: gateway.app.get(DataSource),
  };
}

interface YamlOptions {
  readonly deployments?: readonly DeploymentSpec[];
  /** false: no model_info.id, so deployment ids are derived from the config. */
  readonly withIds?: boolean;
  /** Extra litellm_params keys (what an operator edits: rpm, tpm, timeout…). */
  readonly extraParams?: Readonly<Record<string, unknown>>;
  /** api_base overrides by deployment id. */
  readonly apiBases?: Readonly<Record<string, string>>;
}

/** A config for the simulated deployments of `t`, with the same api keys as `t`. */
function gatewayYaml(t: TestApp, options: YamlOptions = {}): string {
  const deployments = options.deployments ?? t.deployments;
  return toYaml({
    model_list: deployments.map((d) => ({
      model_name: d.modelName,
      litellm_params: {
        model: `${d.dialect}/${d.modelName}-upstream`,
        api_base: options.apiBases?.[d.id] ?? t.sims[d.id].apiBase,
        api_key: t.simKeys[d.id],
        ...(d.dialect === 'azure' ? { api_version: AZURE_API_VERSION } : {}),
        ...options.extraParams,
      },
      ...(options.withIds === false ? {} : { model_info: { id: d.id } }),
    })),
    gateway: {
      api_keys: [
        { key: t.keys.alice, user_id: 'alice', team_id: 'research' },
        { key: t.keys.carol, user_id: 'carol', team_id: 'research' },
        { key: t.keys.bob, user_id: 'bob' },
        { key: t.keys.admin, user_id: 'admin', role: 'admin' },
      ],
    },
  });
}

function databaseUrl(name: string): string {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

// ---------------------------------------------------------------------------------------------
// Network helpers: a TCP switch in front of Redis, a raw Redis query, a recording HTTP relay.
// ---------------------------------------------------------------------------------------------

/** A TCP relay to Redis that can be cut (every connection dropped, new ones refused) and restored. */
interface TcpSwitch {
  readonly url: string;
  setUp(up: boolean): void;
  close(): Promise<void>;
}

async function startRedisSwitch(): Promise<TcpSwitch> {
  const target = new URL(TEST_REDIS_URL);
  let up = true;
  const open = new Set<Socket>();
  const server = createTcpServer((client) => {
    if (!up) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port || 6379), target.hostname);
    open.add(client);
    open.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    setUp: (value) => {
      up = value;
      if (!value) {
        for (const socket of open) socket.destroy();
        open.clear();
      }
    },
    close: async () => {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `KEYS pattern` against the test Redis, over a raw socket (RESP). */
async function redisKeys(pattern: string): Promise<string[]> {
  const target = new URL(TEST_REDIS_URL);
  const socket = connect(Number(target.port || 6379), target.hostname);
  const command = `*2\r\n$4\r\nKEYS\r\n$${Buffer.byteLength(pattern)}\r\n${pattern}\r\n`;
  try {
    return await new Promise<string[]>((resolve, reject) => {
      let buffer = '';
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        const parsed = parseRespArray(buffer);
        if (parsed) resolve(parsed);
      });
      socket.write(command);
    });
  } finally {
    socket.destroy();
  }
}

function parseRespArray(text: string): string[] | null {
  const lines = text.split('\r\n');
  const header = /^\*(-?\d+)$/.exec(lines[0] ?? '');
  if (!header) return null;
  const count = Number(header[1]);
  if (count <= 0) return [];
  const items: string[] = [];
  for (let i = 1; items.length < count; i += 2) {
    if (i + 1 >= lines.length) return null;
    items.push(lines[i + 1]);
  }
  return items;
}

interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** An HTTP relay to `origin` that records every request it passes on, body included. */
async function startRecordingRelay(
  origin: string,
): Promise<{ origin: string; requests: RecordedRequest[]; close(): Promise<void> }> {
  const target = new URL(origin);
  const requests: RecordedRequest[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const headers = { ...req.headers, host: target.host };
      delete headers['transfer-encoding'];
      headers['content-length'] = String(body.length);
      const outgoing = httpRequest({
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers,
      });
      outgoing.on('response', (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      outgoing.on('error', () => res.destroy());
      outgoing.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Names of the text fields and file parts of a multipart body. */
function multipartFieldNames(
  headers: IncomingHttpHeaders,
  body: Buffer,
): Promise<{ fields: string[]; files: string[] }> {
  return new Promise((resolve, reject) => {
    const fields: string[] = [];
    const files: string[] = [];
    const parser = busboy({ headers });
    parser.on('field', (name) => fields.push(name));
    parser.on('file', (name, stream) => {
      files.push(name);
      stream.resume();
    });
    parser.on('close', () => resolve({ fields, files }));
    parser.on('error', reject);
    parser.end(body);
  });
}

// =============================================================================================

describe('Known failure modes: Files API (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ trustedHeaders: TRUSTED });
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    await t.reset();
  });

  function asTrusted(req: Test, userId: string, teamId?: string): Test {
    let out = req.set(TRUSTED.secretHeader, TRUSTED.secret).set('x-user-id', userId);
    if (teamId !== undefined) out = out.set('x-team-id', teamId);
    return out;
  }

  describe('ids', () => {
    it('should issue a file id that reveals no provider file id, deployment id or model name (LiteLLM §1.1: the unified id carries llm_output_file_id and llm_output_file_model_id in clear base64)', async () => {
      const file = await uploadOk(t, { targets: BOTH_MODELS });

      const inside = Buffer.from(file.id.slice('file-'.length), 'base64url').toString('latin1');
      const secrets = [
        ...providerIds(t).flatMap((id) => [id, id.replace(/^file-/, '')]),
        ...ALL_DEPLOYMENT_IDS,
        'gpt-4o',
        'litellm',
      ];
      expect(providerIds(t)).toHaveLength(4);
      for (const secret of secrets) {
        expect({ secret, found: inside.includes(secret) }).toEqual({ secret, found: false });
      }
    });
  });

  describe('upload', () => {
    it('should accept indexed target_model_names[0], [1], [2] fields and copy once per deployment even when a name repeats (LiteLLM #30186)', async () => {
      const data = jsonlContent(400);

      const file = await uploadOk(t, {
        data,
        targets: null,
        extraFields: [
          ['target_model_names[0]', 'gpt-4o'],
          ['target_model_names[1]', 'gpt-4o-mini'],
          ['target_model_names[2]', 'gpt-4o'],
        ],
      });

      expect(file.bytes).toBe(data.length);
      for (const id of ALL_DEPLOYMENT_IDS) {
        expect({ id, held: t.sims[id].files.size }).toEqual({ id, held: 1 });
      }
      expect(await copyRows(t.dataSource)).toHaveLength(4);
    });

    it('should accept target_model_names as a JSON array string (openai-api.md §6: SDKs send lists in several shapes)', async () => {
      await uploadOk(t, { targets: '["gpt-4o-mini", "gpt-4o"]' });

      for (const id of ALL_DEPLOYMENT_IDS) {
        expect({ id, held: t.sims[id].files.size }).toEqual({ id, held: 1 });
      }
    });

    it('should answer 400 naming expires_after[anchor] for an anchor other than created_at, with no upstream call (LiteLLM §1.3: anchor must be created_at)', async () => {
      const res = await uploadRequest(t, {
        extraFields: [
          ['expires_after[anchor]', 'last_active_at'],
          ['expires_after[seconds]', '86400'],
        ],
      });

      expect(expectEnvelope(res, 400).param).toBe('expires_after[anchor]');
      expect(callsTo(t.sims, 'files.create')).toBe(0);
      expect(await fileRows(t.dataSource)).toEqual([]);
    });

    it('should fail an upload whose model group is down without trying any other model group (LiteLLM #37424)', async () => {
      for (const id of GPT4O_IDS) {
        t.sims[id].addFault({ route: 'files.create', status: 503 });
      }

      const res = await uploadRequest(t, { targets: 'gpt-4o' });

      expectEnvelope(res, 502);
      for (const id of MINI_IDS) {
        expect({ id, calls: t.sims[id].calls }).toEqual({ id, calls: [] });
      }
      expect(filesHeld(t.sims)).toBe(0);
      expect((await listAs(t, 'alice')).data).toEqual([]);
      // A copy attempt cut short may be left to the sweeper; it too must stay in its group.
      await t.app.get(FileSweeperService).sweep(0);
      expect(await fileRows(t.dataSource)).toEqual([]);
      for (const id of MINI_IDS) {
        expect({ id, calls: t.sims[id].calls }).toEqual({ id, calls: [] });
      }
    });

    it('should answer a complete OpenAI file object (bytes, status processed, original filename) when the first copy is on Azure, which answers 201 pending without bytes (LiteLLM §1.3: response fields copied from the first provider; openai-api.md §7)', async () => {
      const data = jsonlContent(1_500);

      const res = await uploadRequest(t, {
        data,
        targets: 'gpt-4o',
        filename: 'azure-first.jsonl',
      });

      expect(res.status).toBe(200);
      const body = res.body as FileObjectBody;
      expect(Object.keys(body).sort()).toEqual(
        [
          'bytes',
          'created_at',
          'expires_at',
          'filename',
          'id',
          'object',
          'purpose',
          'status',
        ].sort(),
      );
      expect(body).toMatchObject({
        object: 'file',
        bytes: data.length,
        filename: 'azure-first.jsonl',
        purpose: 'user_data',
        status: 'processed',
      });
      expect(Math.abs(body.created_at - Date.now() / 1000)).toBeLessThan(60);
      expect((await get(t, `/v1/files/${body.id}`)).body).toEqual(body);
    });

    it.each(['user_data', 'vision'])(
      'should not send purpose %s to an Azure deployment, whose dated API has no such purpose: map it or refuse before any copy (openai-api.md §7, translation checklist 4)',
      async (purpose) => {
        const res = await uploadRequest(t, { purpose, targets: 'gpt-4o' });

        if (res.status === 200) {
          expect((res.body as FileObjectBody).purpose).toBe(purpose);
          const azureCopies = [...t.sims['4o-azure'].files.values()];
          expect(azureCopies).toHaveLength(1);
          expect(['assistants', 'batch', 'fine-tune']).toContain(azureCopies[0].purpose);
        } else {
          expect(expectEnvelope(res, 400).param).toBe('purpose');
          expect(filesHeld(t.sims)).toBe(0);
        }
      },
    );
  });

  describe('list', () => {
    it('should answer 400 naming purpose for an unknown purpose filter, and accept output purposes (LiteLLM PR #37855: purpose validated on list)', async () => {
      await uploadOk(t);

      const bad = await get(t, '/v1/files').query({ purpose: 'shopping' });
      expect(expectEnvelope(bad, 400).param).toBe('purpose');

      for (const purpose of ['batch', 'batch_output', 'fine-tune-results']) {
        const ok = await get(t, '/v1/files').query({ purpose });
        expect({ purpose, status: ok.status }).toEqual({ purpose, status: 200 });
      }
    });

    it('should not silently ignore a target_model_names filter on list: filter to that model or answer 400 (LiteLLM §4 #24 and PR #37201: unsupported list filters are 400)', async () => {
      const onMini = await uploadOk(t, { targets: 'gpt-4o-mini', filename: 'mini.jsonl' });
      const on4o = await uploadOk(t, { targets: 'gpt-4o', filename: 'big.jsonl' });

      const res = await get(t, '/v1/files').query({ target_model_names: 'gpt-4o' });

      if (res.status === 200) {
        const ids = (res.body as { data: FileObjectBody[] }).data.map((f) => f.id);
        expect(ids).not.toContain(onMini.id);
        expect(ids).toEqual([on4o.id]);
      } else {
        expect(expectEnvelope(res, 400).param).toBe('target_model_names');
      }
    });

    it('should answer 500 in the envelope, never a partial list or a provider fall-through, when the store fails; and an upload then leaves no copy (LiteLLM #35362 fell through to OpenAI; route test "store failure → 500")', async () => {
      const file = await uploadOk(t);
      await t.dataSource.query('ALTER TABLE managed_files RENAME TO managed_files_away');
      try {
        const callsBefore = callsTo(t.sims, 'files.list') + callsTo(t.sims, 'files.retrieve');

        const list = await get(t, '/v1/files');
        const listError = expectEnvelope(list, 500);
        expect(listError.message).not.toMatch(/managed_files|relation|SELECT/i);

        // Not cached yet: a store failure must not read as "no such file".
        const retrieve = await get(t, `/v1/files/${file.id}`);
        expectEnvelope(retrieve, 500);

        const upload = await uploadRequest(t, { filename: 'during-outage.jsonl' });
        expect(upload.status).toBeGreaterThanOrEqual(500);
        expectEnvelope(upload, upload.status);

        expect(callsTo(t.sims, 'files.list') + callsTo(t.sims, 'files.retrieve')).toBe(callsBefore);
        expect(filesHeld(t.sims)).toBe(4);
      } finally {
        await t.dataSource.query('ALTER TABLE managed_files_away RENAME TO managed_files');
      }
    });
  });

  describe('content', () => {
    it('should not put provider file ids, upstream addresses or keys in the error when no copy can be read (LiteLLM hook afile_content lists raw ids in its error; test "errors name the unified id, never the internal URI")', async () => {
      const file = await uploadOk(t);
      const ids = providerIds(t);
      expect(ids).toHaveLength(4);
      // The provider dropped every copy (expired upstream, deleted out of band).
      for (const sim of Object.values(t.sims)) sim.reset();

      const res = await get(t, `/v1/files/${file.id}/content`);

      expect([404, 502]).toContain(res.status);
      const error = expectEnvelope(res, res.status);
      const leaks = [
        ...ids,
        ...ids.map((id) => id.replace(/^file-/, '')),
        ...Object.values(t.sims).map((sim) => `127.0.0.1:${sim.port}`),
        ...Object.values(t.simKeys),
      ];
      for (const leak of leaks) {
        expect({ leak, found: error.message.includes(leak) }).toEqual({ leak, found: false });
      }
    });
  });

  describe('ownership and identity', () => {
    it("should let the same user through another credential download, list and delete the file (LiteLLM tests: 'same user different keys' are interchangeable)", async () => {
      const data = jsonlContent(900);
      const file = await uploadOk(t, { user: 'alice', data });

      const listed = await asTrusted(request(t.http).get('/v1/files'), 'alice');
      expect((listed.body as { data: FileObjectBody[] }).data.map((f) => f.id)).toEqual([file.id]);
      const content = await binaryBody(
        asTrusted(request(t.http).get(`/v1/files/${file.id}/content`), 'alice'),
      );
      expect(content.status).toBe(200);
      expect((content.body as Buffer).equals(data)).toBe(true);
      const deleted = await asTrusted(request(t.http).delete(`/v1/files/${file.id}`), 'alice');
      expect(deleted.body).toEqual({ id: file.id, object: 'file', deleted: true });

      expectEnvelope(await get(t, `/v1/files/${file.id}`, 'alice'), 404);
      expect(filesHeld(t.sims)).toBe(0);
    });

    it("should refuse a caller from another team with 403 and hide the file from their list, while the owner's team gets in (LiteLLM #27004: team / service-account isolation)", async () => {
      const file = await uploadOk(t, { user: 'alice' });
      const callsBefore = callsTo(t.sims, 'files.content') + callsTo(t.sims, 'files.delete');

      for (const req of [
        request(t.http).get(`/v1/files/${file.id}`),
        request(t.http).get(`/v1/files/${file.id}/content`),
        request(t.http).delete(`/v1/files/${file.id}`),
      ]) {
        const error = expectEnvelope(await asTrusted(req, 'dana', 'ops'), 403);
        expect(error.type).toBe('permission_error');
      }
      const danaList = await asTrusted(request(t.http).get('/v1/files'), 'dana', 'ops');
      expect((danaList.body as { data: unknown[] }).data).toEqual([]);
      expect(callsTo(t.sims, 'files.content') + callsTo(t.sims, 'files.delete')).toBe(callsBefore);

      const teammate = await asTrusted(
        request(t.http).get(`/v1/files/${file.id}`),
        'dana',
        'research',
      );
      expect(teammate.status).toBe(200);
      expect(filesHeld(t.sims)).toBe(4);
    });
  });

  describe('sweeper', () => {
    it("should keep sweeping the other files when one file's cleanup fails in the same pass (LiteLLM #35357 / PR #35375: one failing item aborted the whole cycle)", async () => {
      // Oldest heartbeat: claimed first. Its copy's id was never learned, so the sweeper must
      // search the deployment, and that search fails.
      const stuck = await seedFile(t.dataSource, {
        status: 'pending',
        heartbeatSecondsAgo: 3_600,
        copies: [{ deploymentId: '4o-azure', providerFileId: null }],
      });
      t.sims['4o-azure'].addFault({ route: 'files.list', status: 500 });
      const expired = await uploadOk(t, { targets: BOTH_MODELS, filename: 'expired.jsonl' });
      await t.dataSource.query(
        `UPDATE managed_files SET expires_at = now() - interval '1 second' WHERE id <> $1`,
        [stuck],
      );
      expectEnvelope(await get(t, `/v1/files/${expired.id}`), 404);

      await t.app.get(FileSweeperService).sweep(0);

      // The expired file is gone everywhere although the stuck one failed first.
      expect(filesHeld(t.sims)).toBe(0);
      expect((await fileRows(t.dataSource)).map((r) => r.id)).toEqual([stuck]);

      t.sims['4o-azure'].clearFaults();
      await t.app.get(FileSweeperService).sweep(0);
      expect(await fileRows(t.dataSource)).toEqual([]);
    });
  });
});

// =============================================================================================

describe('Known failure modes: Files API with a default target model (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ defaultTargetModels: ['gpt-4o-mini'] });
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    await t.reset();
  });

  it("should never put a file on the default model when the caller named another one in 'model' (LiteLLM §1.2 model-based routing: files.create with extra_body model)", async () => {
    const res = await uploadRequest(t, { targets: null, extraFields: [['model', 'gpt-4o']] });

    if (res.status === 200) {
      for (const id of MINI_IDS) {
        expect({ id, held: t.sims[id].files.size }).toEqual({ id, held: 0 });
      }
      for (const id of GPT4O_IDS) {
        expect({ id, held: t.sims[id].files.size }).toEqual({ id, held: 1 });
      }
    } else {
      expect(['model', 'target_model_names']).toContain(expectEnvelope(res, 400).param);
      expect(callsTo(t.sims, 'files.create')).toBe(0);
    }
  });
});

// =============================================================================================

describe('Known failure modes: Files API with a 1 s upstream timeout (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ upstreamTimeoutMs: 1_000 });
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    await t.reset();
  });

  it('should answer 504 with x-should-retry: false when a deployment never answers an upload, and leave no copy once swept (openai-api.md §6: the SDK retries 5xx, so a retryable status after upstream work means duplicates)', async () => {
    t.sims['4o-openai'].addFault({ route: 'files.create', latencyMs: 3_000 });

    const res = await uploadRequest(t, { targets: 'gpt-4o' });

    const error = expectEnvelope(res, 504);
    expect(error.message).toContain('4o-openai');
    expect(res.headers['x-should-retry']).toBe('false');
    // Let any copy the slow deployment still stores land, then sweep.
    await sleep(3_500);
    await t.app.get(FileSweeperService).sweep(0);
    for (const id of GPT4O_IDS) {
      expect({ id, held: t.sims[id].files.size }).toEqual({ id, held: 0 });
    }
    expect(await fileRows(t.dataSource)).toEqual([]);
  });
});

// =============================================================================================

describe('Known failure modes: Redis lost and regained while running (e2e)', () => {
  let t: TestApp;
  let redis: TcpSwitch;

  beforeAll(async () => {
    redis = await startRedisSwitch();
    t = await createTestApp({ redisUrl: redis.url });
  });
  afterAll(async () => {
    await t?.close();
    await redis?.close();
  });
  beforeEach(async () => {
    redis.setUp(true);
    await waitForCache(t, 'up');
    await t.reset();
  });

  async function cacheStatus(app: TestApp): Promise<string> {
    const res = await request(app.http).get('/health/ready');
    return (res.body as { checks: { cache: { status: string } } }).checks.cache.status;
  }

  async function waitForCache(app: TestApp, status: 'up' | 'down'): Promise<void> {
    await waitFor(async () => (await cacheStatus(app)) === status, `cache ${status}`, 15_000);
  }

  async function timed<T>(what: string, call: () => PromiseLike<T>): Promise<T> {
    const started = Date.now();
    const result = await call();
    expect({ what, fast: Date.now() - started < 3_000 }).toEqual({ what, fast: true });
    return result;
  }

  it('should keep answering within seconds when Redis goes away mid-run, and use the cache again once it is back (dependency-notes: a Redis get hangs while Redis is down; the client must reconnect)', async () => {
    const data = jsonlContent(1_000);
    const file = await uploadOk(t, { data });
    expect((await get(t, `/v1/files/${file.id}`)).status).toBe(200);

    redis.setUp(false);
    for (let i = 0; i < 2; i++) {
      const retrieved = await timed('retrieve', () => get(t, `/v1/files/${file.id}`));
      expect(retrieved.body).toEqual(file);
      const list = await timed('list', () => listAs(t, 'alice'));
      expect(list.data.map((f) => f.id)).toEqual([file.id]);
      const content = await timed('content', () =>
        binaryBody(get(t, `/v1/files/${file.id}/content`)),
      );
      expect((content.body as Buffer).equals(data)).toBe(true);
    }
    await waitForCache(t, 'down');

    redis.setUp(true);
    await waitForCache(t, 'up');
    const uid = await onlyRowId(t);
    expect((await get(t, `/v1/files/${file.id}`)).status).toBe(200);
    await waitFor(
      async () => (await redisKeys(`*${uid}*`)).length > 0,
      'the file to be cached again',
    );
  });

  it('should keep a file deleted while Redis was unreachable deleted after Redis returns (LiteLLM §1.7: delete only overwrites the cache entry; dependency-notes: Redis outages)', async () => {
    const file = await uploadOk(t);
    expect((await get(t, `/v1/files/${file.id}`)).status).toBe(200);
    const uid = await onlyRowId(t);
    await waitFor(async () => (await redisKeys(`*${uid}*`)).length > 0, 'the file to be cached');

    redis.setUp(false);
    const deleted = await del(t, `/v1/files/${file.id}`);
    expect(deleted.body).toEqual({ id: file.id, object: 'file', deleted: true });
    expectEnvelope(await get(t, `/v1/files/${file.id}`), 404);

    redis.setUp(true);
    await waitForCache(t, 'up');

    expectEnvelope(await get(t, `/v1/files/${file.id}`), 404);
    expectEnvelope(await get(t, `/v1/files/${file.id}/content`), 404);
    expectEnvelope(await del(t, `/v1/files/${file.id}`), 404);
    expect((await listAs(t, 'alice')).data).toEqual([]);
  });
});

// =============================================================================================

describe('Known failure modes: restarts, config edits and replicas on one database (e2e)', () => {
  let t: TestApp;
  let databaseName: string;
  let secret: string;
  const gateways: Gateway[] = [];

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    await t.reset();
    databaseName = `mfg_kf_${randomBytes(6).toString('hex')}`;
    secret = `kf-signing-secret-${randomBytes(16).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${databaseName}`);
  });
  afterEach(async () => {
    while (gateways.length > 0) await gateways.pop()?.close();
    await adminQuery(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
  });

  async function boot(
    yaml: string,
    redisUrl: string | null = TEST_REDIS_URL,
    sweepIntervalMs?: number,
  ): Promise<TestApp> {
    const gateway = await bootGateway({
      yaml,
      databaseUrl: databaseUrl(databaseName),
      secret,
      redisUrl,
      ...(sweepIntervalMs === undefined ? {} : { sweepIntervalMs }),
    });
    gateways.push(gateway);
    return through(t, gateway);
  }

  async function stop(app: TestApp): Promise<void> {
    const gateway = gateways.find((g) => g.app === app.app);
    await gateway?.close();
  }

  it('should keep files usable after an operator edits litellm_params and reorders the model list (LiteLLM #40761: deployment ids hashed from litellm_params change and orphan stored copies)', async () => {
    const data = jsonlContent(2_500);
    const before = await boot(gatewayYaml(t, { withIds: false }));
    const file = await uploadOk(before, { data, targets: BOTH_MODELS });
    await stop(before);

    const reordered = [...t.deployments].reverse();
    const after = await boot(
      gatewayYaml(t, {
        withIds: false,
        deployments: reordered,
        extraParams: { rpm: 60, tpm: 100_000, timeout: 120 },
      }),
    );

    expect((await get(after, `/v1/files/${file.id}`)).body).toEqual(file);
    const content = await binaryBody(get(after, `/v1/files/${file.id}/content`));
    expect(content.status).toBe(200);
    expect((content.body as Buffer).equals(data)).toBe(true);
    expect((await listAs(after, 'alice')).data.map((f) => f.id)).toEqual([file.id]);
    const deleted = await del(after, `/v1/files/${file.id}`);
    expect(deleted.body).toEqual({ id: file.id, object: 'file', deleted: true });
    for (const id of ALL_DEPLOYMENT_IDS) {
      expect({ id, held: t.sims[id].files.size }).toEqual({ id, held: 0 });
    }
  });

  it('should keep serving and deleting a file after one of its deployments is removed from the config (LiteLLM #40761: an evicted deployment; hook afile_content reads only the embedded deployment)', async () => {
    const data = jsonlContent(1_200);
    const before = await boot(gatewayYaml(t));
    const file = await uploadOk(before, { data, targets: BOTH_MODELS });
    await stop(before);

    const after = await boot(
      gatewayYaml(t, { deployments: t.deployments.filter((d) => d.id !== 'mini-openai-1') }),
    );

    expect((await get(after, `/v1/files/${file.id}`)).status).toBe(200);
    const content = await binaryBody(get(after, `/v1/files/${file.id}/content`));
    expect(content.status).toBe(200);
    expect((content.body as Buffer).equals(data)).toBe(true);
    expect((await del(after, `/v1/files/${file.id}`)).status).toBe(200);
    for (const id of ['mini-openai-2', ...GPT4O_IDS]) {
      expect({ id, held: t.sims[id].files.size }).toEqual({ id, held: 0 });
    }
    expectEnvelope(await get(after, `/v1/files/${file.id}`), 404);
  });

  it('should finish cleaning up an expired file after a restart without anyone calling the API (LiteLLM #10011: the background job dies when the proxy restarts)', async () => {
    // The sweep is a job in the database: the chain of passes outlives the process. A short
    // interval keeps the test quick; the default is a minute.
    const before = await boot(gatewayYaml(t), TEST_REDIS_URL, 1_000);
    await uploadOk(before, {
      targets: BOTH_MODELS,
      extraFields: [
        ['expires_after[anchor]', 'created_at'],
        ['expires_after[seconds]', '3600'],
      ],
    });
    expect(filesHeld(t.sims)).toBe(4);
    await stop(before);
    // It expired while no gateway was running.
    const client = new Client({ connectionString: databaseUrl(databaseName) });
    await client.connect();
    try {
      await client.query(`UPDATE managed_files SET expires_at = now() - interval '1 minute'`);
    } finally {
      await client.end();
    }

    const after = await boot(gatewayYaml(t), TEST_REDIS_URL, 1_000);

    await waitFor(() => filesHeld(t.sims) === 0, 'the restarted gateway to delete the copies');
    await waitFor(
      async () => (await fileRows(after.dataSource)).length === 0,
      'the restarted gateway to drop the record',
    );
  });

  it('should not forward gateway-only form fields such as target_model_names to the provider (openai-api.md §7 checklist 3; CreateFileRequest has additionalProperties: false)', async () => {
    const sim = t.sims['mini-openai-1'];
    const origin = new URL(sim.apiBase).origin;
    const relay = await startRecordingRelay(origin);
    try {
      const app = await boot(
        gatewayYaml(t, {
          apiBases: { 'mini-openai-1': relay.origin + sim.apiBase.slice(origin.length) },
        }),
      );

      await uploadOk(app, {
        targets: 'gpt-4o-mini',
        extraFields: [
          ['expires_after[anchor]', 'created_at'],
          ['expires_after[seconds]', '86400'],
        ],
      });

      const uploads = relay.requests.filter((r) => r.method === 'POST');
      expect(uploads).toHaveLength(1);
      const { fields, files } = await multipartFieldNames(uploads[0].headers, uploads[0].body);
      expect(files).toEqual(['file']);
      expect(fields.sort()).toEqual(
        ['expires_after[anchor]', 'expires_after[seconds]', 'purpose'].sort(),
      );
    } finally {
      await relay.close();
    }
  });

  it('should start three replicas at once on an empty database, migrating it exactly once (deploys roll out replicas together; migrations run at start-up)', async () => {
    // Without turns, all but one replica fail their first migration attempt and boot only on
    // Nest's retry, 3 s later, after logging the failure.
    const errors = jest.spyOn(Logger.prototype, 'error');
    const replicas = await Promise.all([1, 2, 3].map(() => boot(gatewayYaml(t))));
    const retries = errors.mock.calls.filter((args) => String(args[0]).includes('Retrying'));
    errors.mockRestore();
    expect(retries).toEqual([]);

    const client = new Client({ connectionString: databaseUrl(databaseName) });
    await client.connect();
    try {
      const applied = await client.query<{ name: string }>('SELECT name FROM typeorm_migrations');
      expect(applied.rows).toHaveLength(new Set(applied.rows.map((r) => r.name)).size);
      expect(applied.rows.length).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
    const file = await uploadOk(replicas[0], { targets: 'gpt-4o' });
    expect((await get(replicas[2], `/v1/files/${file.id}`)).body).toEqual(file);
  });

  it('should answer 404 on every replica once a file is deleted on one, also without Redis (LiteLLM §1.7: per-process cache; ID_SIGNING_SECRET is required because replicas share a database)', async () => {
    const replicaA = await boot(gatewayYaml(t), null);
    const replicaB = await boot(gatewayYaml(t), null);
    const file = await uploadOk(replicaA, { targets: 'gpt-4o' });
    // Ids from one replica work on the other; both have now read (and may cache) the file.
    expect((await get(replicaA, `/v1/files/${file.id}`)).status).toBe(200);
    expect((await get(replicaB, `/v1/files/${file.id}`)).status).toBe(200);

    expect((await del(replicaB, `/v1/files/${file.id}`)).status).toBe(200);

    expectEnvelope(await get(replicaA, `/v1/files/${file.id}`), 404);
    expectEnvelope(await get(replicaA, `/v1/files/${file.id}/content`), 404);
    expect((await listAs(replicaA, 'alice')).data).toEqual([]);
  });
});

// =============================================================================================

describe('Known failure modes: the embedded database (e2e)', () => {
  let t: TestApp;
  let dataDir: string;
  const gateways: Gateway[] = [];

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(async () => {
    await t.reset();
    dataDir = await mkdtemp(join(tmpdir(), 'mfg-kf-embedded-'));
  });
  afterEach(async () => {
    while (gateways.length > 0) await gateways.pop()?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function bootEmbedded(): Promise<TestApp> {
    const gateway = await bootGateway({
      yaml: gatewayYaml(t),
      databaseUrl: null,
      secret: `kf-embedded-secret-${randomBytes(16).toString('hex')}`,
      redisUrl: null,
      dataDir,
    });
    gateways.push(gateway);
    return through(t, gateway);
  }

  it('should run concurrent uploads, list, download, a part-failed delete and a sweep on the one-connection embedded database without stalling (dependency-notes: PGlite has one session; a query outside an open transaction deadlocks)', async () => {
    const app = await bootEmbedded();
    const datas = Array.from({ length: 4 }, (_, i) => jsonlContent(800 + i, `e${i}`));

    const files = await Promise.all(
      datas.map((data, i) => uploadOk(app, { data, filename: `e${i}.jsonl` })),
    );

    expect(filesHeld(t.sims)).toBe(16);
    const listed = await listAs(app, 'alice');
    expect(listed.data.map((f) => f.id).sort()).toEqual(files.map((f) => f.id).sort());
    const [first, second] = await Promise.all([
      binaryBody(get(app, `/v1/files/${files[0].id}/content`)),
      binaryBody(get(app, `/v1/files/${files[1].id}/content`)),
    ]);
    expect((first.body as Buffer).equals(datas[0])).toBe(true);
    expect((second.body as Buffer).equals(datas[1])).toBe(true);

    t.sims['4o-azure'].addFault({ route: 'files.delete', status: 500 });
    const deletes = await Promise.all(files.map((f) => del(app, `/v1/files/${f.id}`)));
    expect(deletes.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect((await listAs(app, 'alice')).data).toEqual([]);
    t.sims['4o-azure'].clearFaults();
    await app.app.get(FileSweeperService).sweep(0);
    expect(filesHeld(t.sims)).toBe(0);
    expect(await fileRows(app.dataSource)).toEqual([]);
  }, 120_000);

  it('should refuse to start on a data directory another running gateway process uses, and start once it has stopped (dependency-notes: nothing locks the PGlite data directory; the second process silently loses its writes)', async () => {
    const configPath = join(dataDir, '..', `${randomBytes(6).toString('hex')}-config.yaml`);
    await writeFile(configPath, gatewayYaml(t));
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined && key !== 'DATABASE_URL' && key !== 'REDIS_URL') env[key] = value;
    }
    const child = spawn(process.execPath, ['-r', 'ts-node/register', 'src/main.ts'], {
      cwd: join(__dirname, '..', '..'),
      env: {
        ...env,
        TS_NODE_PROJECT: 'tsconfig.cli.json',
        CONFIG_PATH: configPath,
        DATA_DIR: dataDir,
        PORT: '0',
        LOG_LEVEL: 'log',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await waitFor(
        () => /listening on/.test(output),
        'the other gateway process to start',
        60_000,
      );

      await expect(bootEmbedded()).rejects.toThrow(/Another gateway process/);
    } finally {
      child.kill('SIGTERM');
      await exited;
      await rm(configPath, { force: true });
    }

    const app = await bootEmbedded();
    expect((await request(app.http).get('/health/ready')).status).toBe(200);
  }, 120_000);
});
