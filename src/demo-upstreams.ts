import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { startSimulator, type SimulatedUpstream } from './simulator/simulator';

/** The demo config's deployments (config/demo.yaml), each served by an in-process simulator. */
const DEMO_UPSTREAMS = [
  { env: 'DEMO_SIM_OPENAI_EAST', dialect: 'openai', name: 'demo-openai-east' },
  { env: 'DEMO_SIM_OPENAI_WEST', dialect: 'openai', name: 'demo-openai-west' },
  { env: 'DEMO_SIM_AZURE_SWEDEN', dialect: 'azure', name: 'demo-azure-sweden' },
] as const;

/**
 * With no CONFIG_PATH the gateway runs on the demo config, whose deployments are simulated:
 * this starts one OpenAI-compatible simulator per deployment on a loopback port and returns the
 * environment the demo config reads their addresses from. Their files are kept in
 * `<DATA_DIR>/demo-upstreams`, so the demo survives a restart like the gateway's own data.
 * Only main.ts calls this; no module depends on the simulator.
 */
export async function startDemoUpstreams(dataDir: string): Promise<{
  env: Record<string, string>;
  upstreams: SimulatedUpstream[];
}> {
  const logger = new Logger('DemoUpstreams');
  const upstreams = await Promise.all(
    DEMO_UPSTREAMS.map((u) =>
      startSimulator({
        dialect: u.dialect,
        apiKey: 'sim-key',
        name: u.name,
        // Kept beside the gateway's own data, so a restarted demo still serves its files.
        persistDir: join(dataDir, 'demo-upstreams', u.name),
      }),
    ),
  );
  const env: Record<string, string> = {};
  DEMO_UPSTREAMS.forEach((u, i) => {
    env[u.env] = upstreams[i].apiBase;
    logger.warn(
      `SIMULATED deployment ${u.name} (${u.dialect}) at ${upstreams[i].apiBase} — not a real provider`,
    );
  });
  logger.warn(
    'No CONFIG_PATH: running the DEMO config with SIMULATED deployments and demo API keys.',
  );
  return { env, upstreams };
}
