import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Agent } from 'undici';
import { createUpstreamPool } from '../../provider-router/adapters/http-provider.adapter';
import { OpenAIAdapter } from '../../provider-router/adapters/openai/openai.adapter';
import { openAiDeployment, uploadOf } from '../../provider-router/adapters/upload-request.fixture';
import { startSimulator, type SimulatedUpstream } from '../../simulator/simulator';
import { SpoolFile } from './spool-file';

const MiB = 1024 * 1024;
const API_KEY = 'sk-spool-sim-key-0123456789';

/**
 * The spool reuses a chunk's memory once the adapter gives it back, which is safe only if the
 * transport has written the chunk out by then (SpoolFile.giveBack). Here copies go over real
 * HTTP to upstreams that read slowly, so sockets refuse writes and chunks sit in write queues;
 * a transport that asked for the next chunk early would send reused memory, and the upstream's
 * sha256 would not match.
 */
describe('spooled copies through the upload adapter', () => {
  const sims: SimulatedUpstream[] = [];
  let pool: Agent;
  let adapter: OpenAIAdapter;
  let spool: SpoolFile;

  beforeAll(async () => {
    sims.push(await startSimulator({ dialect: 'openai', apiKey: API_KEY }));
    for (const bandwidthBytesPerSec of [40 * MiB, 15 * MiB]) {
      sims.push(await startSimulator({ dialect: 'openai', apiKey: API_KEY, bandwidthBytesPerSec }));
    }
    pool = createUpstreamPool(30_000);
    adapter = new OpenAIAdapter({ timeoutMs: 30_000, dispatcher: pool });
  });
  beforeEach(async () => {
    spool = await SpoolFile.create();
  });
  afterEach(async () => {
    await spool.close();
  });
  afterAll(async () => {
    await Promise.all(sims.map((s) => s.close()));
    await pool.close();
  });

  it('should deliver every copy intact while the chunks given back carry later ones', async () => {
    const data = randomBytes(24 * MiB + 99);
    const givenBack = new Set<unknown>();
    let chunksGivenBack = 0;
    const upload = uploadOf(data, {
      openBody: () => spool.createReader(),
      giveBack: (chunk) => {
        givenBack.add(chunk.buffer);
        chunksGivenBack++;
        spool.giveBack(chunk);
      },
    });

    const writing = pipeline(Readable.from(slices(data, 64 * 1024)), spool.writer());
    const files = await Promise.all(
      sims.map((sim, i) =>
        adapter.uploadFile(openAiDeployment(sim.apiBase, API_KEY, `spool-${i}`), upload),
      ),
    );
    await writing;

    const expected = createHash('sha256').update(data).digest('hex');
    files.forEach((file, i) => expect(sims[i].files.get(file.id)?.sha256).toBe(expected));
    // Every chunk came back (24 whole, one short, per copy) and the whole ones shared a few
    // buffers: reuse did happen.
    expect(chunksGivenBack).toBe(3 * 25);
    expect(givenBack.size).toBeLessThan(24);
  });
});

function* slices(data: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}
