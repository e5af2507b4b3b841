import type { Dialect, SimRoute } from './types';

export interface ResolvedRoute {
  route: SimRoute;
  /** Path parameters: `id` for object routes, `deployment` for Azure deployment routes. */
  params: Partial<Record<'id' | 'deployment', string>>;
}

interface RouteDef {
  method: string;
  pattern: RegExp;
  route: SimRoute;
}

const SEGMENT = '([^/]+)';

/** Resources shared by both dialects, relative to the dialect's prefix. */
function sharedRoutes(prefix: string): RouteDef[] {
  const p = prefix.replace(/\//g, '\\/');
  const def = (method: string, suffix: string, route: SimRoute): RouteDef => ({
    method,
    pattern: new RegExp(`^${p}${suffix}\\/?$`),
    route,
  });
  return [
    def('POST', '\\/files', 'files.create'),
    def('GET', '\\/files', 'files.list'),
    def('GET', `\\/files\\/${SEGMENT}`, 'files.retrieve'),
    def('GET', `\\/files\\/${SEGMENT}\\/content`, 'files.content'),
    def('DELETE', `\\/files\\/${SEGMENT}`, 'files.delete'),
    def('POST', '\\/responses', 'responses'),
    def('GET', `\\/responses\\/${SEGMENT}`, 'responses.retrieve'),
    def('DELETE', `\\/responses\\/${SEGMENT}`, 'responses.delete'),
    def('GET', `\\/responses\\/${SEGMENT}\\/input_items`, 'responses.input_items'),
    def('POST', `\\/responses\\/${SEGMENT}\\/cancel`, 'responses.cancel'),
    def('POST', '\\/batches', 'batches.create'),
    def('GET', '\\/batches', 'batches.list'),
    def('GET', `\\/batches\\/${SEGMENT}`, 'batches.retrieve'),
    def('POST', `\\/batches\\/${SEGMENT}\\/cancel`, 'batches.cancel'),
    def('POST', '\\/fine_tuning\\/jobs', 'fine_tuning.create'),
    def('GET', '\\/fine_tuning\\/jobs', 'fine_tuning.list'),
    def('GET', `\\/fine_tuning\\/jobs\\/${SEGMENT}`, 'fine_tuning.retrieve'),
    def('POST', `\\/fine_tuning\\/jobs\\/${SEGMENT}\\/cancel`, 'fine_tuning.cancel'),
    def('POST', `\\/fine_tuning\\/jobs\\/${SEGMENT}\\/pause`, 'fine_tuning.pause'),
    def('POST', `\\/fine_tuning\\/jobs\\/${SEGMENT}\\/resume`, 'fine_tuning.resume'),
    def('GET', `\\/fine_tuning\\/jobs\\/${SEGMENT}\\/events`, 'fine_tuning.events'),
    def('GET', `\\/fine_tuning\\/jobs\\/${SEGMENT}\\/checkpoints`, 'fine_tuning.checkpoints'),
  ];
}

const OPENAI_ROUTES: RouteDef[] = [
  ...sharedRoutes('/v1'),
  { method: 'POST', pattern: /^\/v1\/chat\/completions\/?$/, route: 'chat.completions' },
];

// Azure's dated API puts chat (and, from the SDK with a deployment set, batch creation) under
// /deployments/{name} (reference §7).
const AZURE_ROUTES: RouteDef[] = [
  ...sharedRoutes('/openai'),
  {
    method: 'POST',
    pattern: /^\/openai\/deployments\/([^/]+)\/chat\/completions\/?$/,
    route: 'chat.completions',
  },
  {
    method: 'POST',
    pattern: /^\/openai\/deployments\/([^/]+)\/batches\/?$/,
    route: 'batches.create',
  },
];

export function resolveRoute(
  dialect: Dialect,
  method: string,
  pathname: string,
): ResolvedRoute | null {
  const table = dialect === 'azure' ? AZURE_ROUTES : OPENAI_ROUTES;
  for (const def of table) {
    if (def.method !== method) continue;
    const match = def.pattern.exec(pathname);
    if (!match) continue;
    const params: ResolvedRoute['params'] = {};
    const segment = match.at(1);
    if (segment !== undefined) {
      const key = def.pattern.source.includes('deployments') ? 'deployment' : 'id';
      params[key] = safeDecode(segment);
    }
    return { route: def.route, params };
  }
  return null;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    // A malformed escape is the client's problem; the literal segment then simply matches nothing.
    return segment;
  }
}
