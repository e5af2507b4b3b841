import type { Deployment } from '../config/deployment';
import { ProviderError } from './provider-client';

export interface DeploymentPickerOptions {
  /** How long a deployment that failed is skipped (`AppConfig.deploymentCooldownMs`). */
  readonly cooldownMs: number;
  /** Uniform in [0, 1), like Math.random; injected so tests can seed it. */
  readonly random?: () => number;
  /** Epoch milliseconds; injected so tests can move time. */
  readonly now?: () => number;
}

export interface PickOptions {
  /** Deployment ids not to pick (the one that just failed, when failing over). */
  readonly exclude?: ReadonlySet<string>;
}

/**
 * Chooses the one deployment a model call goes to: weighted random over the candidates
 * (LiteLLM's `weight`), skipping deployments in cool-down after a failure. It holds no I/O, only
 * the cool-downs of this process; replicas each learn on their own, which is enough to steer
 * around a deployment that is down.
 */
export class DeploymentPicker {
  private readonly random: () => number;
  private readonly now: () => number;
  /** Deployment id → epoch ms until which it is skipped. */
  private readonly coolingUntil = new Map<string, number>();

  constructor(private readonly options: DeploymentPickerOptions) {
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  /**
   * One of `candidates` (the caller has already narrowed them to deployments that can serve the
   * call), or null when none is left after `exclude`. Deployments in cool-down are skipped unless
   * every candidate is cooling down: then one of them is tried anyway, since failing the call
   * for sure is worse than trying a deployment that may have recovered.
   */
  pick(candidates: readonly Deployment[], options: PickOptions = {}): Deployment | null {
    const exclude = options.exclude;
    const eligible = exclude ? candidates.filter((d) => !exclude.has(d.id)) : [...candidates];
    if (eligible.length === 0) return null;
    const warm = eligible.filter((d) => !this.isCoolingDown(d));
    return this.weightedDraw(warm.length > 0 ? warm : eligible);
  }

  /**
   * Starts a cool-down when the failure says the deployment is unwell (no answer, a timeout, a
   * 429 or a 5xx). A 4xx is the request's fault and a caller abort says nothing about the
   * upstream: neither counts. Returns whether it counted.
   */
  reportFailure(deployment: Deployment, error: unknown): boolean {
    if (!(error instanceof ProviderError) || !error.retryable || error.aborted) return false;
    this.coolingUntil.set(deployment.id, this.now() + this.options.cooldownMs);
    return true;
  }

  /** A deployment that answered is healthy again, even if its cool-down had not run out. */
  reportSuccess(deployment: Deployment): void {
    this.coolingUntil.delete(deployment.id);
  }

  isCoolingDown(deployment: Deployment): boolean {
    const until = this.coolingUntil.get(deployment.id);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.coolingUntil.delete(deployment.id);
    return false;
  }

  private weightedDraw(pool: readonly Deployment[]): Deployment {
    const weights = pool.map(weightOf);
    const total = weights.reduce((sum, w) => sum + w, 0);
    // All weights zero (or unusable): an even spread rather than no answer.
    if (total <= 0) return pool[Math.min(pool.length - 1, Math.floor(this.random() * pool.length))];
    let point = this.random() * total;
    for (const [index, deployment] of pool.entries()) {
      point -= weights[index];
      if (point < 0) return deployment;
    }
    // Floating-point rounding can leave `point` a hair above zero: the last weighted one wins.
    const last = weights.findLastIndex((w) => w > 0);
    return pool[last];
  }
}

/** A weight that is not a positive number draws nothing (the config defaults it to 1). */
function weightOf(deployment: Deployment): number {
  const weight = deployment.weight;
  return Number.isFinite(weight) && weight > 0 ? weight : 0;
}
