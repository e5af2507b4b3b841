import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Caller } from '../common/auth/caller';
import { canAccess, visibleToSql, type Owner } from '../common/auth/ownership';
import { ApiError, InvalidRequestError } from '../common/errors/api-error';
import { CacheService } from '../cache/cache.service';
import type { Deployment } from '../config/deployment';
import { ProviderRouterService } from '../provider-router/provider-router.service';

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/** A fine-tuned model as registered, and as cached (plain JSON). */
export interface FineTunedModelRecord {
  readonly name: string;
  readonly deploymentId: string;
  readonly jobId: string;
  readonly owner: Owner;
  readonly createdAt: number;
}

/** The deployments a call for `model` may go to. */
export interface ModelRoute {
  readonly model: string;
  readonly deployments: readonly Deployment[];
}

interface Row {
  name: string;
  deployment_id: string;
  job_id: string;
  owner_user_id: string;
  owner_team_id: string | null;
  created_at: Date;
}

const CACHE_TTL_MS = 10 * 60_000;
const cacheKey = (name: string): string => `mfg:ftmodel:v1:${name}`;

/**
 * Which models a caller may call, and where each runs: the public model names of the config
 * (everyone's), and the fine-tuned models of the caller's jobs (the owner's, the owner's team's
 * and admins'), each on the one deployment that trained it. Chat completions, Responses,
 * fine-tuning (a fine-tuned model can be trained further) and `GET /v1/models` all ask here.
 */
@Injectable()
export class ModelCatalogService {
  /** Boot time: config models exist from then on, and OpenAI's `created` is a timestamp. */
  private readonly bootedAt = Math.floor(Date.now() / 1000);
  /** Fine-tuned model name → the deployment that serves it (built once per name). */
  private readonly serving = new Map<string, Deployment>();

  constructor(
    private readonly router: ProviderRouterService,
    private readonly cache: CacheService,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /**
   * The deployments for `model` as `caller` may use it. 400 when it is missing; 404
   * `model_not_found` for a name that is neither configured nor a fine-tuned model the caller
   * may use (another user's fine-tuned model does not exist for them).
   */
  async resolve(model: unknown, caller: Caller): Promise<ModelRoute> {
    if (typeof model !== 'string' || model === '') {
      throw new InvalidRequestError("Missing required parameter: 'model'.", {
        param: 'model',
        code: 'missing_required_parameter',
      });
    }
    const configured = this.router.deploymentsOf(model);
    if (configured.length > 0) return { model, deployments: configured };
    const tuned = await this.fineTuned(model);
    if (!tuned || !canAccess(caller, tuned.owner)) throw this.unknownModel(model);
    return { model, deployments: [this.servingDeployment(tuned)] };
  }

  /** The models the caller may use: the config's, then the caller's fine-tuned ones, newest first. */
  async list(caller: Caller): Promise<ModelObject[]> {
    const params: unknown[] = [];
    const visible = visibleToSql(
      caller,
      { userId: 'owner_user_id', teamId: 'owner_team_id' },
      (value) => {
        params.push(value);
        return `$${params.length}`;
      },
    );
    const rows = await this.dataSource.query<Row[]>(
      `SELECT name, deployment_id, job_id, owner_user_id, owner_team_id, created_at
         FROM fine_tuned_models ${visible ? `WHERE ${visible}` : ''}
        ORDER BY created_at DESC LIMIT 1000`,
      params,
    );
    return [
      ...this.router.modelNames.map((id) => this.configModel(id)),
      ...rows.map((row) => fineTunedModel(toRecord(row))),
    ];
  }

  async retrieve(model: string, caller: Caller): Promise<ModelObject> {
    if (this.router.deploymentsOf(model).length > 0) return this.configModel(model);
    const tuned = await this.fineTuned(model);
    if (!tuned || !canAccess(caller, tuned.owner)) throw this.unknownModel(model);
    return fineTunedModel(tuned);
  }

  /** Registers a job's fine-tuned model (idempotent: the first registration wins). */
  async registerFineTuned(model: Omit<FineTunedModelRecord, 'createdAt'>): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO fine_tuned_models (name, deployment_id, job_id, owner_user_id, owner_team_id)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING`,
      [model.name, model.deploymentId, model.jobId, model.owner.userId, model.owner.teamId],
    );
  }

  private async fineTuned(name: string): Promise<FineTunedModelRecord | undefined> {
    const found = await this.cache.getOrLoadMany<FineTunedModelRecord>(
      [name],
      cacheKey,
      CACHE_TTL_MS,
      async (missing) => {
        const rows = await this.dataSource.query<Row[]>(
          `SELECT name, deployment_id, job_id, owner_user_id, owner_team_id, created_at
             FROM fine_tuned_models WHERE name = ANY($1)`,
          [missing],
        );
        return new Map(rows.map((row) => [row.name, toRecord(row)]));
      },
    );
    return found.get(name);
  }

  /**
   * The deployment that trained the model, calling it by name: on OpenAI-dialect endpoints the
   * fine-tuned model is served under its own name; on Azure an operator deploys it first, and
   * `model_info.fine_tuned_deployments` of the training deployment names that deployment.
   */
  private servingDeployment(tuned: FineTunedModelRecord): Deployment {
    const known = this.serving.get(tuned.name);
    if (known) return known;
    const base = this.router.deployment(tuned.deploymentId);
    if (!base) {
      throw new ApiError(
        404,
        'invalid_request_error',
        `The fine-tuned model '${tuned.name}' was trained on a deployment that is no longer configured.`,
        { param: 'model', code: 'model_not_found' },
      );
    }
    let upstreamModel = tuned.name;
    if (base.provider === 'azure') {
      const mapped = base.fineTunedDeployments?.[tuned.name];
      if (!mapped) {
        throw new InvalidRequestError(
          `The fine-tuned model '${tuned.name}' is not deployed yet: on Azure an operator must ` +
            `deploy it, then map it in the gateway config under model_info.fine_tuned_deployments ` +
            `of deployment '${base.id}' (model '${base.modelName}').`,
          { param: 'model', code: 'model_not_deployed' },
        );
      }
      upstreamModel = mapped;
    }
    const deployment: Deployment = { ...base, modelName: tuned.name, upstreamModel };
    this.serving.set(tuned.name, deployment);
    return deployment;
  }

  private unknownModel(model: string): ApiError {
    return new ApiError(
      404,
      'invalid_request_error',
      `The model '${model}' does not exist or you do not have access to it. Models you may use: ` +
        `${this.router.modelNames.join(', ')}, and your fine-tuned models (GET /v1/models).`,
      { param: 'model', code: 'model_not_found' },
    );
  }

  private configModel(id: string): ModelObject {
    return { id, object: 'model', created: this.bootedAt, owned_by: 'managed-files-gateway' };
  }
}

function fineTunedModel(record: FineTunedModelRecord): ModelObject {
  return {
    id: record.name,
    object: 'model',
    created: record.createdAt,
    owned_by: record.owner.teamId ?? record.owner.userId,
  };
}

function toRecord(row: Row): FineTunedModelRecord {
  return {
    name: row.name,
    deploymentId: row.deployment_id,
    jobId: row.job_id,
    owner: { userId: row.owner_user_id, teamId: row.owner_team_id },
    createdAt: Math.floor(new Date(row.created_at).getTime() / 1000),
  };
}
