import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import type { DestinationStream } from 'pino';
import { DataSource } from 'typeorm';
import { stringify as toYaml } from 'yaml';
import { loadAppConfig } from '../../src/config/load-app-config';
import { createApp } from '../../src/create-app';
import {
  startSimulator,
  type Dialect,
  type SimulatedUpstream,
  type SimRoute,
} from '../../src/simulator/simulator';
import { startNetworkProxy, type NetworkProxy } from './network-proxy';
import { startTcpProxy, type TcpProxy } from './tcp-proxy';

export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The Azure api-version the simulated Azure deployments insist on. */
export const AZURE_API_VERSION = '2024-10-21';

export type UserName = 'alice' | 'bob' | 'carol' | 'admin';

export interface DeploymentSpec {
  /** model_info.id: the stable deployment id, also the key of `sims`. */
  readonly id: string;
  readonly modelName: string;
  readonly dialect: Dialect;
}

/** Two model names, two deployments each, one of them Azure. Config order = this order. */
export const DEFAULT_DEPLOYMENTS: readonly DeploymentSpec[] = [
  { id: 'mini-openai-1', modelName: 'gpt-4o-mini', dialect: 'openai' },
  { id: 'mini-openai-2', modelName: 'gpt-4o-mini', dialect: 'openai' },
  { id: '4o-azure', modelName: 'gpt-4o', dialect: 'azure' },
  { id: '4o-openai', modelName: 'gpt-4o', dialect: 'openai' },
];

export interface TestAppOptions {
  readonly deployments?: readonly DeploymentSpec[];
  readonly maxUploadBytes?: number;
  readonly defaultTargetModels?: readonly string[];
  /** Default TEST_REDIS_URL; null runs with the in-memory cache. */
  readonly redisUrl?: string | null;
  readonly trustedHeaders?: { readonly secretHeader: string; readonly secret: string };
  /** Idle bound on upstream calls, so a hung upstream fails a test instead of stalling it. */
  readonly upstreamTimeoutMs?: number;
  /** Deployments reached through a NetworkProxy (see `proxies`) instead of directly. */
  readonly proxied?: readonly string[];
  /** The gateway reaches PostgreSQL through a TcpProxy (see `databaseProxy`) that can be cut. */
  readonly proxiedDatabase?: boolean;
  /** REQUEST_TIMEOUT_MS: how long a client has to send a whole request. */
  readonly requestTimeoutMs?: number;
  /** DRAIN_TIMEOUT_MS: how long in-flight requests may finish on shutdown. */
  readonly drainTimeoutMs?: number;
  readonly maxJsonBodyBytes?: number;
  /** SWEEP_INTERVAL_MS: how often the file sweeper's periodic job runs. */
  readonly sweepIntervalMs?: number;
  /**
   * Join this existing database (another TestApp's `databaseName`) instead of creating one: a
   * second replica. It neither creates nor drops it; the app that created it does.
   */
  readonly databaseName?: string;
  /**
   * A second replica of this app: the same database, simulated deployments, signing secret and
   * keys (what replicas of one deployment share). Closing it leaves them to the first app.
   */
  readonly replicaOf?: TestApp;
  /** REFRESH_INTERVAL_MS: how often running batches and fine-tuning jobs are refreshed in the background. */
  readonly refreshIntervalMs?: number;
  /** Extra `model_info` keys per deployment id (`fine_tuned_deployments`, `base_model`). */
  readonly modelInfo?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** LOG_LEVEL (default `error`). */
  readonly logLevel?: string;
  /** Where the gateway's log lines go instead of stdout (one JSON line per write). */
  readonly logDestination?: DestinationStream;
  /** `gateway.metrics_token`. */
  readonly metricsToken?: string;
  /** `gateway.cors_origins`. */
  readonly corsOrigins?: readonly string[];
}

export interface TestApp {
  readonly app: INestApplication;
  /** http://127.0.0.1:<port> */
  readonly baseUrl: string;
  readonly http: Server;
  /** The simulated upstream of each deployment, by deployment id. */
  readonly sims: Readonly<Record<string, SimulatedUpstream>>;
  readonly deployments: readonly DeploymentSpec[];
  /** Each deployment's upstream api key (what the simulator insists on). */
  readonly simKeys: Readonly<Record<string, string>>;
  /** The network between the gateway and each deployment named in `options.proxied`. */
  readonly proxies: Readonly<Record<string, NetworkProxy>>;
  /** The network between the gateway and PostgreSQL, with `options.proxiedDatabase`. */
  readonly databaseProxy: TcpProxy | null;
  readonly keys: Readonly<Record<UserName, string>>;
  readonly dataSource: DataSource;
  readonly databaseName: string;
  /** ID_SIGNING_SECRET, shared by replicas. */
  readonly signingSecret: string;
  /** The config file (CONFIG_PATH) the app was booted with: for replicas started as processes. */
  readonly configPath: string;
  /** `Authorization` header value for a user. */
  bearer(user: UserName): string;
  /** Closes the application the way SIGTERM does (drain, then close), once. */
  shutdown(): Promise<void>;
  /** Empties every simulator (files, calls, faults) and the gateway's tables. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Boots the real application (real HTTP server, real PostgreSQL in a database of its own, real
 * Redis unless told otherwise) in front of simulated deployments on loopback ports.
 */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const replicaOf = options.replicaOf;
  const deployments = replicaOf?.deployments ?? options.deployments ?? DEFAULT_DEPLOYMENTS;
  const suffix = randomBytes(6).toString('hex');
  const databaseName = replicaOf?.databaseName ?? options.databaseName ?? `mfg_e2e_${suffix}`;
  const signingSecret =
    replicaOf?.signingSecret ?? `e2e-signing-secret-${randomBytes(16).toString('hex')}`;
  const cleanups: Array<() => Promise<void>> = [];
  const runCleanups = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => {
        process.stderr.write(`test cleanup failed: ${String(error)}\n`);
      });
    }
    cleanups.length = 0;
  };

  try {
    const tmp = await mkdtemp(join(tmpdir(), 'mfg-e2e-'));
    cleanups.push(() => rm(tmp, { recursive: true, force: true }));

    if (options.databaseName === undefined && replicaOf === undefined) {
      await adminQuery(`CREATE DATABASE ${databaseName}`);
      cleanups.push(() => adminQuery(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`));
    }

    const sims: Record<string, SimulatedUpstream> = { ...replicaOf?.sims };
    const simKeys: Record<string, string> = { ...replicaOf?.simKeys };
    for (const d of replicaOf ? [] : deployments) {
      const apiKey = `sim-key-${d.id}-${randomBytes(4).toString('hex')}`;
      const sim = await startSimulator({
        dialect: d.dialect,
        apiKey,
        name: d.id,
        ...(d.dialect === 'azure' ? { apiVersion: AZURE_API_VERSION } : {}),
      });
      cleanups.push(() => sim.close());
      sims[d.id] = sim;
      simKeys[d.id] = apiKey;
    }
    const proxies: Record<string, NetworkProxy> = {};
    const apiBases: Record<string, string> = {};
    for (const d of deployments) {
      const apiBase = sims[d.id].apiBase;
      if (options.proxied?.includes(d.id)) {
        const origin = new URL(apiBase).origin;
        const proxy = await startNetworkProxy(origin);
        cleanups.push(() => proxy.close());
        proxies[d.id] = proxy;
        apiBases[d.id] = proxy.origin + apiBase.slice(origin.length);
      } else {
        apiBases[d.id] = apiBase;
      }
    }

    const keys: Record<UserName, string> = replicaOf
      ? { ...replicaOf.keys }
      : {
          alice: `sk-alice-${suffix}`,
          bob: `sk-bob-${suffix}`,
          carol: `sk-carol-${suffix}`,
          admin: `sk-admin-${suffix}`,
        };
    const configPath = join(tmp, 'config.yaml');
    await writeFile(configPath, configYaml(deployments, apiBases, simKeys, keys, options));

    let databaseProxy: TcpProxy | null = null;
    if (options.proxiedDatabase) {
      const server = new URL(TEST_DATABASE_URL);
      const proxy = await startTcpProxy(server.hostname, Number(server.port || 5432));
      cleanups.push(() => proxy.close());
      databaseProxy = proxy;
    }
    const config = loadAppConfig({
      CONFIG_PATH: configPath,
      DATABASE_URL: databaseUrl(databaseName, databaseProxy?.port),
      ...(options.redisUrl === null ? {} : { REDIS_URL: options.redisUrl ?? TEST_REDIS_URL }),
      ID_SIGNING_SECRET: signingSecret,
      DATA_DIR: join(tmp, 'data'),
      LOG_LEVEL: options.logLevel ?? 'error',
      UPSTREAM_TIMEOUT_MS: String(options.upstreamTimeoutMs ?? 15_000),
      ...(options.requestTimeoutMs === undefined
        ? {}
        : { REQUEST_TIMEOUT_MS: String(options.requestTimeoutMs) }),
      ...(options.drainTimeoutMs === undefined
        ? {}
        : { DRAIN_TIMEOUT_MS: String(options.drainTimeoutMs) }),
      ...(options.sweepIntervalMs === undefined
        ? {}
        : { SWEEP_INTERVAL_MS: String(options.sweepIntervalMs) }),
      ...(options.refreshIntervalMs === undefined
        ? {}
        : { REFRESH_INTERVAL_MS: String(options.refreshIntervalMs) }),
    });
    const app = await createApp(
      config,
      options.logDestination ? { logDestination: options.logDestination } : {},
    );
    let closing: Promise<void> | null = null;
    const shutdown = (): Promise<void> => (closing ??= app.close());
    cleanups.push(shutdown);
    await app.listen(0, '127.0.0.1');
    const http = app.getHttpServer() as Server;
    const { port } = http.address() as AddressInfo;
    const dataSource = app.get(DataSource);

    let closed = false;
    return {
      app,
      baseUrl: `http://127.0.0.1:${port}`,
      http,
      sims,
      deployments,
      simKeys,
      proxies,
      databaseProxy,
      signingSecret,
      configPath,
      keys,
      dataSource,
      databaseName,
      bearer: (user) => `Bearer ${keys[user]}`,
      shutdown,
      reset: async () => {
        for (const sim of Object.values(sims)) sim.reset();
        for (const proxy of Object.values(proxies)) proxy.clear();
        await dataSource.query(
          'TRUNCATE managed_file_copies, managed_files, managed_objects, fine_tuned_models',
        );
      },
      close: async () => {
        if (closed) return;
        closed = true;
        await runCleanups();
      },
    };
  } catch (error) {
    await runCleanups();
    throw error;
  }
}

function configYaml(
  deployments: readonly DeploymentSpec[],
  apiBases: Readonly<Record<string, string>>,
  simKeys: Readonly<Record<string, string>>,
  keys: Readonly<Record<UserName, string>>,
  options: TestAppOptions,
): string {
  const gateway: Record<string, unknown> = {
    api_keys: [
      { key: keys.alice, user_id: 'alice', team_id: 'research' },
      { key: keys.carol, user_id: 'carol', team_id: 'research' },
      { key: keys.bob, user_id: 'bob' },
      { key: keys.admin, user_id: 'admin', role: 'admin' },
    ],
  };
  if (options.trustedHeaders) {
    gateway.trusted_headers = {
      secret_header: options.trustedHeaders.secretHeader,
      secret: options.trustedHeaders.secret,
    };
  }
  if (options.defaultTargetModels) {
    gateway.default_target_models = [...options.defaultTargetModels];
  }
  if (options.maxUploadBytes !== undefined) {
    gateway.max_upload_bytes = options.maxUploadBytes;
  }
  if (options.maxJsonBodyBytes !== undefined) {
    gateway.max_json_body_bytes = options.maxJsonBodyBytes;
  }
  if (options.metricsToken !== undefined) {
    gateway.metrics_token = options.metricsToken;
  }
  if (options.corsOrigins) {
    gateway.cors_origins = [...options.corsOrigins];
  }
  return toYaml({
    model_list: deployments.map((d) => ({
      model_name: d.modelName,
      litellm_params: {
        model: `${d.dialect}/${d.modelName}-upstream`,
        api_base: apiBases[d.id],
        api_key: simKeys[d.id],
        ...(d.dialect === 'azure' ? { api_version: AZURE_API_VERSION } : {}),
      },
      model_info: { ...options.modelInfo?.[d.id], id: d.id },
    })),
    gateway,
  });
}

function databaseUrl(name: string, port?: number): string {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  if (port !== undefined) {
    url.hostname = '127.0.0.1';
    url.port = String(port);
  }
  return url.toString();
}

/** Runs one statement on the test server's admin database (create/drop test databases). */
export async function adminQuery(sql: string): Promise<void> {
  const client = new Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Calls the simulator recorded on a route (all simulators when none is named). */
export function callsTo(
  sims: Readonly<Record<string, SimulatedUpstream>>,
  route: SimRoute,
): number {
  return Object.values(sims).reduce(
    (n, sim) => n + sim.calls.filter((c) => c.route === route).length,
    0,
  );
}

/** Every call any simulator recorded, as `<deployment> <route>`. */
export function allCalls(sims: Readonly<Record<string, SimulatedUpstream>>): string[] {
  return Object.entries(sims).flatMap(([id, sim]) => sim.calls.map((c) => `${id} ${c.route}`));
}

/** The total number of files held across every simulator. */
export function filesHeld(sims: Readonly<Record<string, SimulatedUpstream>>): number {
  return Object.values(sims).reduce((n, sim) => n + sim.files.size, 0);
}
