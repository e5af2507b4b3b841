import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { Deployment } from '../config/deployment';
import { InvalidRequestError } from '../common/errors/api-error';
import {
  PROVIDER_CLIENTS,
  type ProviderClient,
  type ProviderClients,
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

/**
 * The registry of deployments (by public model name and by id) and the one door to upstreams:
 * it picks each target model's deployments and fans uploads out to them.
 */
@Injectable()
export class ProviderRouterService {
  private readonly logger = new Logger(ProviderRouterService.name);
  private readonly byModel = new Map<string, Deployment[]>();
  private readonly byId = new Map<string, Deployment>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PROVIDER_CLIENTS) private readonly clients: ProviderClients,
  ) {
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

  deployment(id: string): Deployment | undefined {
    return this.byId.get(id);
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
    if (!result.ok) {
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

  private targets(deployments: readonly Deployment[]): CopyTarget[] {
    return deployments.map((deployment) => ({ deployment, client: this.clientFor(deployment) }));
  }

  get upstreamTimeoutMs(): number {
    return this.config.upstreamTimeoutMs;
  }
}
