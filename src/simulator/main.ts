// Runs one simulated provider as its own process (benchmarks start several of these):
//   node dist/simulator/main.js --dialect azure --port 4101 --api-key k --bandwidth 200000000 --discard-content
// Prints one JSON line {"event":"listening",...} on stdout once ready, and stops on SIGTERM/SIGINT.
import { parseSimulatorArgs } from './cli-options';
import { startSimulator, type SimulatorOptions } from './simulator';

async function main(): Promise<void> {
  let options: SimulatorOptions;
  try {
    options = parseSimulatorArgs(process.argv.slice(2), process.env);
  } catch (error: unknown) {
    process.stderr.write(`simulator: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  const simulator = await startSimulator(options);
  process.stdout.write(
    `${JSON.stringify({
      event: 'listening',
      apiBase: simulator.apiBase,
      port: simulator.port,
      dialect: simulator.dialect,
      name: simulator.name,
    })}\n`,
  );
  const stop = (signal: NodeJS.Signals): void => {
    simulator.close().then(
      () => {
        process.stdout.write(`${JSON.stringify({ event: 'closed', signal })}\n`);
        process.exit(0);
      },
      (error: unknown) => {
        process.stderr.write(`simulator: close failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`simulator: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
