/** Upstream dialects the gateway speaks. Adding one means adding an adapter under provider-router/adapters. */
export const PROVIDERS = ['openai', 'azure'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** One upstream deployment of a public model name, as resolved from the config at boot. */
export interface Deployment {
  /** Stable id: `model_info.id`, or derived from the fields that identify the endpoint (never the key). */
  readonly id: string;
  /** The public model name clients use (`model_name`). Several deployments may share it. */
  readonly modelName: string;
  readonly provider: ProviderName;
  /** Upstream model (openai) or Azure deployment name: the part after `<provider>/`. */
  readonly upstreamModel: string;
  /** Base URL without a trailing slash. openai: includes `/v1`; azure: the resource endpoint. */
  readonly apiBase: string;
  readonly apiKey: string;
  readonly apiVersion: string | null;
  /** Share of traffic relative to the other deployments of the model (LiteLLM's `weight`). */
  readonly weight: number;
  /**
   * The base model fine-tuning jobs on this deployment train (`model_info.base_model`, the
   * LiteLLM key): Azure names deployments freely, its fine-tuning API wants the model.
   * Absent: `upstreamModel`.
   */
  readonly baseModel?: string;
  /**
   * Azure: fine-tuned models an operator has deployed on this resource, fine-tuned model name
   * → Azure deployment name (`model_info.fine_tuned_deployments`). On OpenAI a fine-tuned
   * model is served by the same endpoint under its own name, so no mapping is needed.
   */
  readonly fineTunedDeployments?: Readonly<Record<string, string>>;
}
