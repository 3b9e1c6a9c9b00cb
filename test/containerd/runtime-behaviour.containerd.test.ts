// The runtime behaviour suite against real containerd (managed, private instance).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectCri } from '../../src/native/cri/index.js';
import { runtimeBehaviourSuite } from '../helpers/runtime-behaviour.js';
import { startTestContainerd } from '../helpers/containerd-fixture.js';

runtimeBehaviourSuite('containerd', async () => {
  const fx = await startTestContainerd();
  const cri = connectCri(fx.containerd.endpoint, { runtimeRequestTimeoutMs: 60_000 });
  const logRoot = mkdtempSync(join(tmpdir(), 'kts-ctrd-logs-'));
  return {
    cri,
    busybox: fx.busybox,
    logRoot,
    close: async () => {
      cri.close();
      await fx.close();
      rmSync(logRoot, { recursive: true, force: true });
    },
  };
});
