// Test fixture (not built: see tsconfig.json): deployments and a seeded random for router specs.
import type { Deployment } from '../config/deployment';

/** An OpenAI-dialect deployment at an address that never resolves. */
export function fakeDeployment(id: string, weight = 1): Deployment {
  return {
    id,
    modelName: 'gpt-test',
    provider: 'openai',
    upstreamModel: 'gpt-4o-mini',
    apiBase: `http://${id}.invalid/v1`,
    apiKey: `key-${id}`,
    apiVersion: null,
    weight,
  };
}

/** mulberry32: a small seeded PRNG, so draws are the same on every run. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
