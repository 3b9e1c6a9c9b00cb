// The standalone scenario on real containerd (managed, private instance).
import { standaloneScenario } from '../helpers/standalone-scenario.js';
import { startTestContainerd } from '../helpers/containerd-fixture.js';

standaloneScenario('containerd, 50 pods', {
  longRunning: 46,
  timeoutMs: 90_000,
  open: async () => {
    const fx = await startTestContainerd();
    return { endpoint: fx.containerd.endpoint, image: 'busybox:1.35', close: () => fx.close() };
  },
});
