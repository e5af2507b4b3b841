import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { Deployment } from '../config/deployment';
import { InvalidRequestError } from '../common/errors/api-error';
import { MetricsService } from '../observability/metrics.service';
import { DeploymentPicker, type PickOptions } from './deployment-picker';
import { meteredClients } from './metered-clients';
import {
  PROVIDER_CLIENTS,
  ProviderError,
  type ProviderCall,
  type ProviderClient,
  type ProviderClients,
  type ProviderReply,
  type UploadRequest,
} from './provider-client';
import {
  copyOf,
  deleteAll,
  uploadToAll,
  type CopyTarget,
  type FanOutResult,
  type PlacedCopy,
} from './upload-fan-out';

/** Upper bound on pages read when searching a deployment's files (10 000 files a page). */
const MAX_LIST_PAGES = 100;

/** What the router reads from the config. */
export type RouterConfig = Pick<
  AppConfig,
  'deployments' | 'upstreamTimeoutMs' | 'deploymentCooldownMs'
>;

/** A model call that got a 2xx answer, and the deployment that gave it. */
export interface ModelCallResult {
  readonly deployment: Deployment;
  readonly reply: ProviderReply;
}

/**
 * The registry of deployments (by public model name and by id) and the one door to upstreams:
 * it picks each target model's deployments and fans uploads out to them, and sends each model
 * call to one deployment, failing over once.
 */
@Injectable()
export class ProviderRouterService {
  private readonly logger = new Logger(ProviderRouterService.name);
  private readonly byModel = new Map<string, Deployment[]>();
  private readonly byId = new Map<string, Deployment>();

  private readonly picker: DeploymentPicker;
  /** The adapters, metered when the app has metrics (unit tests build the router without). */
  private readonly clients: ProviderClients;

  constructor(
    @Inject(APP_CONFIG) private readonly config: RouterConfig,
    @Inject(PROVIDER_CLIENTS) clients: ProviderClients,
    // Provided by the module; tests pass one with a seeded random and a fake clock.
    @Optional() picker?: DeploymentPicker,
    @Optional() metrics?: MetricsService,
  ) {
    this.clients = metrics ? meteredClients(clients, metrics) : clients;
    this.picker = picker ?? new DeploymentPicker({ cooldownMs: config.deploymentCooldownMs });
    for (const deployment of config.deployments) {
      this.byId.set(deployment.id, deployment);
      const group = this.byModel.get(deployment.modelName) ?? [];
      group.push(deployment);
      this.byModel.set(deployment.modelName, group);
    }
  }

  get modelNames(): string[] {
    return [...this.byModel.keys()];
  }

  /** Every configured deployment, in config order. */
  get deployments(): readonly Deployment[] {
    return this.config.deployments;
  }

  deployment(id: string): Deployment | undefined {
    return this.byId.get(id);
  }

  /** The deployments of a public model name, in config order; empty for an unknown name. */
  deploymentsOf(modelName: string): readonly Deployment[] {
    return this.byModel.get(modelName) ?? [];
  }

  clientFor(deployment: Deployment): ProviderClient {
    return this.clients[deployment.provider];
  }

  /**
   * Every deployment of every named model, each once. Uploads are pinned to the models asked
   * for: they never fall back to another model group (LiteLLM #37424).
   *
   * @throws InvalidRequestError naming the unknown models and listing the known ones.
   */
  resolveTargets(modelNames: readonly string[], param: string): Deployment[] {
    const unknown = modelNames.filter((name) => !this.byModel.has(name));
    if (unknown.length > 0) {
      throw new InvalidRequestError(
        `Unknown model name${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')} ` +
          `in ${param}. Known models: ${this.modelNames.join(', ')}.`,
        { param, code: 'model_not_found' },
      );
    }
    const seen = new Set<string>();
    return modelNames
      .flatMap((name) => this.byModel.get(name) ?? [])
      .filter((d) => (seen.has(d.id) ? false : (seen.add(d.id), true)));
  }

  /** Copies a file to every deployment, all or nothing (see uploadToAll). */
  async uploadToAll(
    deployments: readonly Deployment[],
    upload: (deployment: Deployment) => UploadRequest,
    signal: AbortSignal,
  ): Promise<FanOutResult> {
    const result = await uploadToAll(this.targets(deployments), upload, signal);
    // Stopped by the caller (client gone, body refused, shutdown) with nothing left behind: the
    // caller says why, once. A deployment's failure, or copies left over, are the router's to report.
    if (!result.ok && (result.failedDeployment !== null || result.leftOver.length > 0)) {
      this.logger.warn(
        `upload fan-out failed on ${result.failedDeployment?.id ?? '(aborted)'}: ${result.error.message}; ` +
          `${result.leftOver.length} cop${result.leftOver.length === 1 ? 'y' : 'ies'} left for the sweeper`,
      );
    }
    return result;
  }

  /** Deletes copies concurrently (a copy already gone counts as deleted); returns those that failed. */
  deleteCopies(copies: readonly PlacedCopy[]): Promise<PlacedCopy[]> {
    return deleteAll(copies, this.targets(copies.map((c) => c.deployment)));
  }

  /**
   * Ids of the files on a deployment whose upstream filename matches: how copies whose id we
   * never saw are found. Pages through the deployment's file list (bounded).
   */
  private async findFiles(
    deployment: Deployment,
    matches: (filename: string) => boolean,
  ): Promise<string[]> {
    const client = this.clientFor(deployment);
    const found: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const result = await client.listFiles(deployment, after);
      found.push(...result.data.filter((f) => matches(f.filename)).map((f) => f.id));
      if (!result.hasMore || result.data.length === 0) break;
      after = result.data[result.data.length - 1].id;
    }
    return found;
  }

  /**
   * Deletes every file on a deployment whose upstream filename matches, except `keep`: how
   * copies whose id we never saw are removed. True when all of them are gone.
   */
  async deleteMatching(
    deployment: Deployment,
    matches: (filename: string) => boolean,
    keep: string | null = null,
  ): Promise<boolean> {
    const found = await this.findFiles(deployment, matches);
    const extra = found.filter((fileId) => fileId !== keep);
    const failed = await this.deleteCopies(extra.map((fileId) => copyOf(deployment, fileId)));
    return failed.length === 0;
  }

  /** One of `candidates` by weight, skipping those in cool-down (see DeploymentPicker.pick). */
  pick(candidates: readonly Deployment[], options?: PickOptions): Deployment | null {
    return this.picker.pick(candidates, options);
  }

  /**
   * Tells the picker how a call that did not go through callOne ended (a stream that broke
   * mid-way, say): failures that mean the deployment is unwell start its cool-down.
   */
  reportFailure(deployment: Deployment, error: unknown): void {
    if (this.picker.reportFailure(deployment, error)) {
      this.logger.warn(
        `deployment ${deployment.id} cooling down for ${this.config.deploymentCooldownMs} ms: ${failureSummary(error)}`,
      );
    }
  }

  reportSuccess(deployment: Deployment): void {
    this.picker.reportSuccess(deployment);
  }

  /**
   * Sends one model call to one of `candidates` (the caller passes only deployments that can
   * serve it, e.g. those holding a copy of every referenced file; `buildCall` writes that
   * deployment's ids and model into the call). When the call fails before any byte could reach
   * the client (no answer, a timeout before headers, a 429 or a 5xx), it is sent once more to
   * another candidate; a 4xx would fail the same way anywhere and is thrown as is. A streamed
   * reply counts as a success once its 2xx headers arrived.
   *
   * @throws ProviderError of the last attempt; its deploymentId names the deployment.
   */
  async callOne(
    candidates: readonly Deployment[],
    buildCall: (deployment: Deployment) => ProviderCall,
    signal?: AbortSignal,
  ): Promise<ModelCallResult> {
    const first = this.picker.pick(candidates);
    if (!first) {
      throw new RangeError('callOne needs at least one candidate deployment');
    }
    try {
      return await this.attempt(first, buildCall, signal);
    } catch (error) {
      if (!(error instanceof ProviderError) || !error.retryable || signal?.aborted === true) {
        throw error;
      }
      const second = this.picker.pick(candidates, { exclude: new Set([first.id]) });
      if (!second) throw error;
      this.logger.warn(
        `model call on ${first.id} failed (${failureSummary(error)}); failing over to ${second.id}`,
      );
      return await this.attempt(second, buildCall, signal);
    }
  }

  private async attempt(
    deployment: Deployment,
    buildCall: (deployment: Deployment) => ProviderCall,
    signal: AbortSignal | undefined,
  ): Promise<ModelCallResult> {
    const request = buildCall(deployment);
    try {
      const reply = await this.clientFor(deployment).call(deployment, request, signal);
      this.reportSuccess(deployment);
      return { deployment, reply };
    } catch (error) {
      // The caller going away says nothing about the deployment.
      if (signal?.aborted !== true) this.reportFailure(deployment, error);
      throw error;
    }
  }

  private targets(deployments: readonly Deployment[]): CopyTarget[] {
    return deployments.map((deployment) => ({ deployment, client: this.clientFor(deployment) }));
  }

  get upstreamTimeoutMs(): number {
    return this.config.upstreamTimeoutMs;
  }
}

/** Status and code only: upstream messages may quote ids and prompts, which logs do not need. */
function failureSummary(error: unknown): string {
  if (!(error instanceof ProviderError)) return error instanceof Error ? error.name : 'failed';
  if (error.timedOut) return 'timed out';
  if (error.status === null) return error.code ?? 'no answer';
  return `HTTP ${error.status}${error.code ? ` ${error.code}` : ''}`;
}
