// The standalone scenario on the simulated runtime behind its socket (so a kubelet restart finds
// the same runtime), with many long-running pods.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimRuntimeServer, type SimRuntime } from '../../src/sim/index.js';
import { standaloneScenario } from '../helpers/standalone-scenario.js';

let sim: SimRuntime | undefined;

standaloneScenario('simulated runtime, 500 pods', {
  longRunning: 496,
  timeoutMs: 60_000,
  // Chaos on top of the killed pool thread: a third of CreateContainer and StartContainer calls fail.
  chaos: {
    before: () => {
      sim?.faults.set('CreateContainer', { errorRate: 0.33, code: 'UNAVAILABLE' });
      sim?.faults.set('StartContainer', { errorRate: 0.33, code: 'UNKNOWN' });
    },
    after: () => sim?.faults.clear(),
  },
  open: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-standalone-sim-'));
    const server = await startSimRuntimeServer({ listen: `unix://${join(dir, 'sim.sock')}`, runtime: { seed: 21 } });
    sim = server.runtime;
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
