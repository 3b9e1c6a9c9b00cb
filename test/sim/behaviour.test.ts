// The runtime behaviour suite (the one containerd passes) against the simulated runtime, three
// ways: in-process, over its unix socket with the runtime.v1 client, and with the v1alpha2 client.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectCri } from '../../src/native/cri/index.js';
import { SimRuntime, createSimClient, startSimRuntimeServer } from '../../src/sim/index.js';
import { runtimeBehaviourSuite, type RuntimeUnderTest } from '../helpers/runtime-behaviour.js';

const BUSYBOX = 'docker.io/library/busybox:1.35';

runtimeBehaviourSuite('sim in-process', async (): Promise<RuntimeUnderTest> => {
  const logRoot = await mkdtemp(join(tmpdir(), 'kts-sim-logs-'));
  const sim = new SimRuntime({ seed: 1 });
  const cri = createSimClient(sim, { runtimeRequestTimeoutMs: 10_000 });
  return {
    cri,
    busybox: BUSYBOX,
    logRoot,
    close: async () => {
      cri.close();
      await sim.close();
      await rm(logRoot, { recursive: true, force: true });
    },
  };
});

for (const apiVersion of ['v1', 'v1alpha2'] as const) {
  runtimeBehaviourSuite(`sim over its unix socket, ${apiVersion} client`, async (): Promise<RuntimeUnderTest> => {
    const dir = await mkdtemp(join(tmpdir(), 'kts-sim-sock-'));
    const server = await startSimRuntimeServer({ listen: `unix://${join(dir, 'sim.sock')}`, runtime: { seed: 2 } });
    const cri = connectCri(server.endpoint, { apiVersion, runtimeRequestTimeoutMs: 10_000 });
    return {
      cri,
      busybox: BUSYBOX,
      logRoot: join(dir, 'logs'),
      close: async () => {
        cri.close();
        await server.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  });
}
