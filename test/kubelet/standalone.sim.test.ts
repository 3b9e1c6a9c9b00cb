// The standalone scenario on the simulated runtime behind its socket (so a kubelet restart finds
// the same runtime), with many long-running pods.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimRuntimeServer } from '../../src/sim/index.js';
import { standaloneScenario } from '../helpers/standalone-scenario.js';

standaloneScenario('simulated runtime, 40 long-running pods', {
  longRunning: 40,
  timeoutMs: 30_000,
  open: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-standalone-sim-'));
    const server = await startSimRuntimeServer({ listen: `unix://${join(dir, 'sim.sock')}`, runtime: { seed: 21 } });
    return {
      endpoint: server.endpoint,
      image: 'busybox:1.35',
      close: async () => {
        await server.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
