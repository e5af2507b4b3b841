import type { Deployment } from './deployment';

export type Role = 'user' | 'admin';
export type LogLevel = 'error' | 'warn' | 'log' | 'debug' | 'verbose';
export type LogFormat = 'json' | 'pretty';

export interface ApiKeyEntry {
  /** SHA-256 of the key: plain keys are hashed at load so they are not kept around in memory. */
  readonly keySha256: Buffer;
  readonly userId: string;
  readonly teamId: string | null;
  readonly role: Role;
}

export interface TrustedHeadersConfig {
  readonly secretHeader: string;
  readonly secret: string;
}

export interface DatabaseConfig {
  /** `postgres`: a server at `url`; `embedded`: PGlite persisted in `dataDir`. */
  readonly kind: 'postgres' | 'embedded';
  readonly url: string | null;
  readonly dataDir: string;
}

/** Everything the service reads from its environment and config file, validated at boot. */
export interface AppConfig {
  readonly port: number;
  readonly logLevel: LogLevel;
  /** LOG_FORMAT; null: pretty when stdout is a terminal, JSON lines otherwise. */
  readonly logFormat: LogFormat | null;
  readonly dataDir: string;
  readonly database: DatabaseConfig;
  readonly redisUrl: string | null;
  /** null: generate one and keep it in dataDir (embedded default only). */
  readonly idSigningSecret: string | null;
  /** Path of the YAML file that was loaded, or null for the shipped demo config. */
  readonly configPath: string | null;
  readonly usesDemoConfig: boolean;
  readonly deployments: readonly Deployment[];
  readonly apiKeys: readonly ApiKeyEntry[];
  readonly trustedHeaders: TrustedHeadersConfig | null;
  readonly defaultTargetModels: readonly string[];
  readonly maxUploadBytes: number;
  /** Largest JSON request body accepted (`gateway.max_json_body_bytes`). */
  readonly maxJsonBodyBytes: number;
  /** `gateway.metrics_token`: the bearer token /metrics asks for; null leaves it open. */
  readonly metricsToken: string | null;
  /** `gateway.cors_origins`: browser origins allowed to call (`*`: any); empty: CORS off. */
  readonly corsOrigins: readonly string[];
  readonly upstreamTimeoutMs: number;
  readonly cacheTtlMs: number;
  /** How often the file sweeper runs. */
  readonly sweepIntervalMs: number;
  /** How often batches and fine-tuning jobs still running are refreshed from their provider in the background. */
  readonly refreshIntervalMs: number;
  /** A pending upload whose heartbeat is older than this belongs to a process that died. */
  readonly sweepStaleAfterMs: number;
  /** How long in-flight requests may finish after SIGTERM before the process exits anyway. */
  readonly drainTimeoutMs: number;
  /** How long a deployment that failed is skipped before it is tried again. */
  readonly deploymentCooldownMs: number;
  /** How long an idle client connection is kept open for its next request (see http-edge.ts). */
  readonly keepAliveTimeoutMs: number;
  /** How long a client has to send a whole request, body included; 0: no limit. */
  readonly requestTimeoutMs: number;
  /**
   * Accepted but worth telling the operator (LiteLLM keys the gateway ignores): the loader
   * stays pure, so the caller prints them.
   */
  readonly warnings: readonly string[];
}

/** Nest injection token for AppConfig. */
export const APP_CONFIG = Symbol('APP_CONFIG');
