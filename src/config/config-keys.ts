import { closestMatch } from './edit-distance';

/**
 * Which keys the config file may hold, level by level. A misspelt key must stop the boot — a
 * silently ignored `api_bse:` sends that deployment's key to api.openai.com — but a key LiteLLM
 * defines and this gateway does not use must not, or an existing LiteLLM config would not load.
 */
export interface KeySpec {
  /** Keys this gateway reads, each with the spec of its value (null: a scalar or a free list). */
  readonly ours: Readonly<Record<string, KeySpec | null>>;
  /** Keys LiteLLM defines at this level that the gateway ignores (warned about once each). */
  readonly litellm?: readonly string[];
  /** Families of LiteLLM keys (provider credentials, cost fields) too many to list one by one. */
  readonly litellmPrefixes?: readonly string[];
  /** LiteLLM keys that cannot be ignored safely, with the reason the boot stops. */
  readonly unsupported?: Readonly<Record<string, string>>;
  /** Any key is allowed beyond `ours` (LiteLLM's model_info is free-form metadata). */
  readonly freeForm?: boolean;
}

const API_KEY_ENTRY: KeySpec = {
  ours: { key: null, key_sha256: null, user_id: null, team_id: null, role: null },
};

const GATEWAY: KeySpec = {
  ours: {
    api_keys: API_KEY_ENTRY,
    trusted_headers: { ours: { secret_header: null, secret: null } },
    default_target_models: null,
    max_upload_bytes: null,
    max_json_body_bytes: null,
    metrics_token: null,
    cors_origins: null,
  },
};

const LITELLM_PARAMS: KeySpec = {
  ours: { model: null, api_base: null, api_key: null, api_version: null, weight: null },
  litellm: [
    'rpm',
    'tpm',
    'timeout',
    'stream_timeout',
    'max_retries',
    'num_retries',
    'organization',
    'api_type',
    'custom_llm_provider',
    'region_name',
    'base_model',
    'tenant_id',
    'client_id',
    'client_secret',
    'order',
    'max_tokens',
    'max_completion_tokens',
    'temperature',
    'top_p',
    'seed',
    'stop',
    'reasoning_effort',
    'thinking',
    'response_format',
    'drop_params',
    'additional_drop_params',
    'headers',
    'extra_headers',
    'extra_body',
    'use_in_pass_through',
    'use_litellm_proxy',
    'merge_reasoning_content_in_choices',
    'configurable_clientside_auth_params',
    'max_parallel_requests',
    'max_file_size_mb',
    'max_budget',
    'budget_duration',
    'tags',
    'metadata',
    'model_info',
    'cache_control_injection_points',
    'guardrails',
    'fallbacks',
    'context_window_fallbacks',
    'prompt_id',
    'prompt_variables',
    'hf_model_name',
    'ssl_verify',
    'deployment_id',
    'project_id',
    'space_id',
  ],
  litellmPrefixes: [
    'aws_',
    'vertex_',
    'azure_',
    'watsonx_',
    'input_cost_per_',
    'output_cost_per_',
    'cache_creation_input_',
    'cache_read_input_',
    'auto_router_',
    'mock_',
    'litellm_',
    'supports_',
  ],
};

const MODEL_LIST_ENTRY: KeySpec = {
  ours: {
    model_name: null,
    litellm_params: LITELLM_PARAMS,
    // These are read (and validated by the schema); the rest is LiteLLM's metadata.
    model_info: {
      ours: { id: null, base_model: null, fine_tuned_deployments: null },
      freeForm: true,
    },
  },
  litellm: ['rpm', 'tpm'],
};

export const CONFIG_FILE: KeySpec = {
  ours: { model_list: MODEL_LIST_ENTRY, gateway: GATEWAY },
  litellm: [
    'litellm_settings',
    'router_settings',
    'general_settings',
    'environment_variables',
    'credential_list',
    'guardrails',
    'mcp_servers',
    'mcp_tools',
    'model_group_alias',
    'callback_settings',
    'search_tools',
    'vector_store_registry',
    'files_settings',
    'finetune_settings',
    'assistant_settings',
    'prompts',
    'policies',
    'agent_list',
    'pass_through_endpoints',
  ],
  unsupported: {
    // Ignoring it would drop every deployment the included files define.
    include: 'not supported: this gateway reads one file; move the included model_list here',
  },
};

export interface KeyCheck {
  readonly problems: readonly string[];
  readonly warnings: readonly string[];
  /** Paths suggested for misspelt keys: a "missing" report for one of them repeats the typo. */
  readonly suggestedPaths: ReadonlySet<string>;
}

/** Checks every key of the parsed YAML against what the gateway and LiteLLM define. */
export function checkConfigKeys(raw: Readonly<Record<string, unknown>>): KeyCheck {
  const problems: string[] = [];
  const suggestedPaths = new Set<string>();
  // One warning per key however many entries carry it: 40 deployments with `rpm` are one fact.
  const ignored = new Map<string, { first: string; count: number }>();

  const walkMapping = (node: Readonly<Record<string, unknown>>, spec: KeySpec, path: string) => {
    for (const [key, value] of Object.entries(node)) {
      const here = path ? `${path}.${key}` : key;
      if (Object.hasOwn(spec.ours, key)) {
        const child = spec.ours[key];
        if (child) walkValue(value, child, here);
      } else if (spec.unsupported && Object.hasOwn(spec.unsupported, key)) {
        problems.push(`${here}: ${spec.unsupported[key]}`);
      } else if (isLitellmKey(key, spec)) {
        const pattern = here.replace(/\[\d+\]/g, '[]');
        const seen = ignored.get(pattern);
        if (seen) seen.count++;
        else ignored.set(pattern, { first: here, count: 1 });
      } else if (!spec.freeForm) {
        const suggestion = closestMatch(key, [...Object.keys(spec.ours), ...(spec.litellm ?? [])]);
        if (suggestion && Object.hasOwn(spec.ours, suggestion)) {
          suggestedPaths.add(path ? `${path}.${suggestion}` : suggestion);
        }
        problems.push(`${here}: unknown key${suggestion ? ` (did you mean ${suggestion}?)` : ''}`);
      }
    }
  };
  const walkValue = (value: unknown, spec: KeySpec, path: string) => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => walkValue(item, spec, `${path}[${i}]`));
    } else if (isMapping(value)) {
      walkMapping(value, spec, path);
    }
    // Anything else is a type error, reported by the schema with the same path.
  };

  walkMapping(raw, CONFIG_FILE, '');
  const warnings = [...ignored.values()].map(
    ({ first, count }) =>
      `${first}: LiteLLM setting, not used by this gateway (ignored` +
      `${count > 1 ? `; also set in ${count - 1} more ${count === 2 ? 'entry' : 'entries'}` : ''})`,
  );
  return { problems, warnings, suggestedPaths };
}

function isLitellmKey(key: string, spec: KeySpec): boolean {
  return (
    (spec.litellm?.includes(key) ?? false) ||
    (spec.litellmPrefixes?.some((prefix) => key.startsWith(prefix)) ?? false)
  );
}

export function isMapping(value: unknown): value is Readonly<Record<string, unknown>> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
