import type {
  CallOf,
  JsonObject,
  ProviderCall,
  ProviderOperation,
  ProviderOperations,
} from '../provider-client';

export type HttpMethod = 'GET' | 'POST' | 'DELETE';

/** Where an operation lives, in OpenAI's spelling relative to the API root. */
export interface OperationRoute<P> {
  readonly method: HttpMethod;
  readonly path: (params: P) => string;
  /**
   * Azure's dated API serves it under `/deployments/{deployment}` (reference §7: chat,
   * completions, embeddings; batch creation when a deployment is named).
   */
  readonly perDeployment: boolean;
}

const id = (params: { readonly id: string }): string => encodeURIComponent(params.id);

/**
 * Every operation's route. A `Record` over the operation names, so an operation added to the
 * port without its route here fails to compile.
 */
const OPERATION_ROUTES: {
  readonly [K in ProviderOperation]: OperationRoute<ProviderOperations[K]>;
} = {
  'chat.completions': { method: 'POST', path: () => '/chat/completions', perDeployment: true },
  // https://platform.openai.com/docs/api-reference/responses
  'responses.create': { method: 'POST', path: () => '/responses', perDeployment: false },
  'responses.retrieve': {
    method: 'GET',
    path: (p) => `/responses/${id(p)}`,
    perDeployment: false,
  },
  'responses.delete': {
    method: 'DELETE',
    path: (p) => `/responses/${id(p)}`,
    perDeployment: false,
  },
  'responses.input_items': {
    method: 'GET',
    path: (p) => `/responses/${id(p)}/input_items`,
    perDeployment: false,
  },
  'responses.cancel': {
    method: 'POST',
    path: (p) => `/responses/${id(p)}/cancel`,
    perDeployment: false,
  },
  'files.retrieve': { method: 'GET', path: (p) => `/files/${id(p)}`, perDeployment: false },
  'batches.create': { method: 'POST', path: () => '/batches', perDeployment: false },
  'batches.retrieve': { method: 'GET', path: (p) => `/batches/${id(p)}`, perDeployment: false },
  'batches.cancel': {
    method: 'POST',
    path: (p) => `/batches/${id(p)}/cancel`,
    perDeployment: false,
  },
  'fine_tuning.jobs.create': {
    method: 'POST',
    path: () => '/fine_tuning/jobs',
    perDeployment: false,
  },
  'fine_tuning.jobs.retrieve': {
    method: 'GET',
    path: (p) => `/fine_tuning/jobs/${id(p)}`,
    perDeployment: false,
  },
  'fine_tuning.jobs.cancel': {
    method: 'POST',
    path: (p) => `/fine_tuning/jobs/${id(p)}/cancel`,
    perDeployment: false,
  },
  'fine_tuning.jobs.pause': {
    method: 'POST',
    path: (p) => `/fine_tuning/jobs/${id(p)}/pause`,
    perDeployment: false,
  },
  'fine_tuning.jobs.resume': {
    method: 'POST',
    path: (p) => `/fine_tuning/jobs/${id(p)}/resume`,
    perDeployment: false,
  },
  'fine_tuning.jobs.list_events': {
    method: 'GET',
    path: (p) => `/fine_tuning/jobs/${id(p)}/events`,
    perDeployment: false,
  },
  'fine_tuning.jobs.checkpoints.list': {
    method: 'GET',
    path: (p) => `/fine_tuning/jobs/${id(p)}/checkpoints`,
    perDeployment: false,
  },
};

/** A call resolved to its HTTP shape, still dialect-neutral. */
export interface ResolvedOperation {
  readonly method: HttpMethod;
  readonly path: string;
  readonly perDeployment: boolean;
  readonly query: URLSearchParams | undefined;
  readonly body: JsonObject | undefined;
}

function resolve<K extends ProviderOperation>(call: CallOf<K>): ResolvedOperation {
  const route: OperationRoute<ProviderOperations[K]> = OPERATION_ROUTES[call.operation];
  return {
    method: route.method,
    path: route.path(call),
    perDeployment: route.perDeployment,
    query: 'query' in call ? call.query : undefined,
    body: 'body' in call ? call.body : undefined,
  };
}

export function resolveOperation(call: ProviderCall): ResolvedOperation {
  return resolve(call);
}
