// Model-call routing (callOne: one deployment, one failover, cool-downs) over real loopback HTTP:
// two simulated upstreams of one model, one OpenAI and one Azure, behind the real adapters.
import { setTimeout as delay } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type { Agent } from 'undici';
import type { Deployment } from '../config/deployment';
import { startSimulator, type SimulatedUpstream } from '../simulator/simulator';
import { AzureAdapter } from './adapters/azure/azure.adapter';
import { createUpstreamPool } from './adapters/http-provider.adapter';
import { OpenAIAdapter } from './adapters/openai/openai.adapter';
import { DeploymentPicker } from './deployment-picker';
import { ProviderError, type ProviderCall } from './provider-client';
import { ProviderRouterService } from './provider-router.service';
import { seeded } from './router.fixture';

const API_KEY = 'sk-router-spec-0123456789';
const API_VERSION = '2025-04-01-preview';
const COOLDOWN_MS = 30_000;

function deploymentOf(sim: SimulatedUpstream, id: string, modelName = 'gpt-test'): Deployment {
  return {
    id,
    modelName,
    provider: sim.dialect,
    upstreamModel: sim.dialect === 'azure' ? `${id}-deployment` : `${id}-model`,
    apiBase: sim.apiBase,
    apiKey: API_KEY,
    apiVersion: sim.dialect === 'azure' ? API_VERSION : null,
    weight: 1,
  };
}

/** The caller's part: the body's model is the chosen deployment's. */
const chatFor = (deployment: Deployment, stream = false): ProviderCall => ({
  operation: 'chat.completions',
  body: { model: deployment.upstreamModel, messages: [{ role: 'user', content: 'hi' }], stream },
});

function echoedModel(body: unknown): string {
  const choices = (body as { choices: Array<{ message: { content: string } }> }).choices;
  return String((JSON.parse(choices[0].message.content) as { model: string }).model);
}

async function rejectionOf(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

describe(ProviderRouterService.name, () => {
  let simA: SimulatedUpstream;
  let simB: SimulatedUpstream;
  let pool: Agent;
  let a: Deployment;
  let b: Deployment;
  let other: Deployment;
  let clock: { now: number };
  let picker: DeploymentPicker;
  let router: ProviderRouterService;
  let warn: jest.SpyInstance;

  const chatCalls = (sim: SimulatedUpstream): number =>
    sim.calls.filter((c) => c.route === 'chat.completions').length;

  beforeAll(async () => {
    simA = await startSimulator({ dialect: 'openai', apiKey: API_KEY, name: 'sim-a' });
    simB = await startSimulator({
      dialect: 'azure',
      apiKey: API_KEY,
      apiVersion: API_VERSION,
      name: 'sim-b',
    });
    pool = createUpstreamPool(10_000);
    a = deploymentOf(simA, 'a');
    b = deploymentOf(simB, 'b');
    other = deploymentOf(simA, 'other', 'gpt-other');
  });

  beforeEach(() => {
    // Failovers and cool-downs log warnings; they are asserted on, not printed.
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    simA.reset();
    simB.reset();
    clock = { now: 1_000_000 };
    picker = new DeploymentPicker({
      cooldownMs: COOLDOWN_MS,
      random: seeded(7),
      now: () => clock.now,
    });
    const options = { timeoutMs: 10_000, dispatcher: pool };
    router = new ProviderRouterService(
      { deployments: [a, b, other], upstreamTimeoutMs: 10_000, deploymentCooldownMs: COOLDOWN_MS },
      { openai: new OpenAIAdapter(options), azure: new AzureAdapter(options) },
      picker,
    );
  });

  afterEach(() => {
    warn.mockRestore();
  });

  afterAll(async () => {
    await Promise.all([simA.close(), simB.close()]);
    await pool.close();
  });

  it('should list the deployments of a model in config order', () => {
    expect(router.deploymentsOf('gpt-test')).toEqual([a, b]);
    expect(router.deploymentsOf('gpt-other')).toEqual([other]);
    expect(router.deploymentsOf('nope')).toEqual([]);
  });

  it('should spread calls over the candidates and build each call for its deployment', async () => {
    const served = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const { deployment, reply } = await router.callOne([a, b], chatFor);
      served.set(deployment.id, (served.get(deployment.id) ?? 0) + 1);
      expect(reply.kind === 'json' && echoedModel(reply.body)).toBe(deployment.upstreamModel);
    }

    expect(served.get('a')).toBeGreaterThan(10);
    expect(served.get('b')).toBeGreaterThan(10);
    expect(chatCalls(simA) + chatCalls(simB)).toBe(40);
  });

  it('should serve all of 20 calls when one deployment fails with 500, cooling it after its first failure', async () => {
    simB.addFault({ route: 'chat.completions', status: 500 });

    const results = [];
    for (let i = 0; i < 20; i++) {
      results.push(await router.callOne([a, b], chatFor));
    }

    expect(results.map((r) => r.deployment.id)).toEqual(Array<string>(20).fill('a'));
    expect(results.every((r) => r.reply.status === 200)).toBe(true);
    // Tried once, then skipped for the cool-down.
    expect(chatCalls(simB)).toBe(1);
    expect(chatCalls(simA)).toBe(20);
    expect(picker.isCoolingDown(b)).toBe(true);
    expect(picker.isCoolingDown(a)).toBe(false);

    // Once the cool-down ran out, b is tried again (and fails over again).
    clock.now += COOLDOWN_MS;
    for (let i = 0; i < 20 && chatCalls(simB) === 1; i++) {
      await router.callOne([a, b], chatFor);
    }
    expect(chatCalls(simB)).toBe(2);
  });

  it('should fail over once on a dropped connection and on a 429', async () => {
    // Cooling b down makes a the first pick; b, the only other candidate, still takes the retry.
    picker.reportFailure(b, new ProviderError('earlier', 500, null));
    simA.addFault({ route: 'chat.completions', dropConnection: 'before-response', times: 1 });

    const first = await router.callOne([a, b], chatFor);

    expect(first.deployment.id).toBe('b');
    expect(first.reply.status).toBe(200);
    expect(chatCalls(simA)).toBe(1);
    expect(picker.isCoolingDown(a)).toBe(true);
    expect(picker.isCoolingDown(b)).toBe(false);

    simB.addFault({ route: 'chat.completions', status: 429, retryAfterSeconds: 2, times: 1 });
    const second = await router.callOne([a, b], chatFor);

    expect(second.deployment.id).toBe('a');
    expect(chatCalls(simB)).toBe(2);
    expect(picker.isCoolingDown(b)).toBe(true);
    const logged = warn.mock.calls.map((args) => String(args[0]));
    expect(logged).toContain('model call on a failed (connection_error); failing over to b');
    expect(logged).toContain(
      'model call on b failed (HTTP 429 tooManyRequests); failing over to a',
    );
    expect(logged.join('\n')).not.toContain(API_KEY);
  });

  it('should not retry a 400, and not cool the deployment down for it', async () => {
    simA.addFault({ route: 'chat.completions', status: 400 });
    simB.addFault({ route: 'chat.completions', status: 400 });

    const error = await rejectionOf(router.callOne([a, b], chatFor));

    expect(error).toBeInstanceOf(ProviderError);
    const providerError = error as ProviderError;
    expect(providerError.status).toBe(400);
    expect(chatCalls(simA) + chatCalls(simB)).toBe(1);
    const tried = chatCalls(simA) === 1 ? a : b;
    expect(providerError.deploymentId).toBe(tried.id);
    expect(picker.isCoolingDown(tried)).toBe(false);
  });

  it('should throw the second failure, naming its deployment, when both fail', async () => {
    simA.addFault({ route: 'chat.completions', status: 503 });
    simB.addFault({ route: 'chat.completions', status: 429, retryAfterSeconds: 9 });
    // Cooling b down makes it the second one tried, so its 429 is the one thrown.
    picker.reportFailure(b, new ProviderError('earlier', 500, null));

    const error = await rejectionOf(router.callOne([a, b], chatFor));

    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({
      status: 429,
      retryAfter: '9',
      deploymentId: 'b',
      code: 'tooManyRequests',
    });
    expect(chatCalls(simA)).toBe(1);
    expect(chatCalls(simB)).toBe(1);
    expect(picker.isCoolingDown(a)).toBe(true);
    expect(picker.isCoolingDown(b)).toBe(true);
  });

  it('should not fail over when the only candidate fails', async () => {
    simA.addFault({ route: 'chat.completions', status: 500 });

    const error = await rejectionOf(router.callOne([a], chatFor));

    expect(error).toMatchObject({ status: 500, deploymentId: 'a' });
    expect(chatCalls(simA)).toBe(1);
    expect(chatCalls(simB)).toBe(0);
  });

  it('should count a streamed reply as served once its 2xx headers arrived', async () => {
    simA.addFault({ route: 'chat.completions', chunkDelayMs: 50 });
    simB.addFault({ route: 'chat.completions', chunkDelayMs: 50 });

    const { deployment, reply } = await router.callOne([a, b], (d) => chatFor(d, true));

    expect(reply.kind).toBe('stream');
    if (reply.kind !== 'stream') return;
    let text = '';
    for await (const chunk of reply.body) text += (chunk as Buffer).toString('utf8');
    expect(text).toContain('data: [DONE]');
    expect(picker.isCoolingDown(deployment)).toBe(false);
    expect(chatCalls(simA) + chatCalls(simB)).toBe(1);
  });

  it('should neither fail over nor cool down when the caller aborts', async () => {
    simA.addFault({ route: 'chat.completions', latencyMs: 3_000 });
    simB.addFault({ route: 'chat.completions', latencyMs: 3_000 });
    const abort = new AbortController();

    const pending = rejectionOf(router.callOne([a, b], chatFor, abort.signal));
    await delay(100);
    abort.abort(new Error('client went away'));
    const error = await pending;

    expect(error).toMatchObject({ status: null, code: 'aborted' });
    expect(chatCalls(simA) + chatCalls(simB)).toBe(1);
    expect(picker.isCoolingDown(a) || picker.isCoolingDown(b)).toBe(false);
  });

  it('should refuse a call with no candidate', async () => {
    await expect(router.callOne([], chatFor)).rejects.toThrow(RangeError);
  });
});
