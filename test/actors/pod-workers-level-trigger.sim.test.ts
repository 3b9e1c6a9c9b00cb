// Regression: after a PLEG restart the first relist is a silent baseline (no events), and a
// container that died while PLEG was down waited for the periodic resync (1 min) before its
// restart. Pod workers are level-triggered: a runtime state that differs from what the worker
// last saw wakes it, with or without a PLEG event. Real pool thread, simulated runtime.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SimRuntime, createSimClient } from '../../src/sim/index.js';
import { SyncPool } from '../../src/actors/sync-pool/handle.js';
import { PodWorkers } from '../../src/actors/pod-workers/handle.js';
import type { Pod } from '../../src/api/core-v1.js';
import type { CriClient } from '../../src/native/cri/client.js';
import { applyPodDefaults } from '../../src/pods/static-pod.js';
import { inspectPod } from '../../src/pods/sync.js';
import { waitFor } from '../helpers/cri-fixtures.js';

describe('pod workers wake on a changed runtime state without a PLEG event', () => {
  let sim: SimRuntime;
  let cri: CriClient;
  let pool: SyncPool;
  let workers: PodWorkers;

  before(() => {
    sim = new SimRuntime({ seed: 5 });
    cri = createSimClient(sim);
    pool = new SyncPool({ runtime: { embedded: sim, name: 'sim' }, threads: 1 });
    // A resync period far beyond the test: only a wake-up can restart the container in time.
    workers = new PodWorkers({ pool, sandbox: {}, worker: { syncFrequencyMs: 600_000, random: () => 0 }, crashLoopBackOff: { initialMs: 0, maxMs: 0 } });
  });
  after(async () => {
    workers.stop();
    cri.close();
    await pool.close();
    await sim.close();
  });

  it('restarts a container that died behind a silent relist', async () => {
    const pod: Pod = {
      metadata: { name: 'web', namespace: 'default', uid: `lt-${Date.now()}` },
      spec: { containers: [{ name: 'app', image: 'busybox:1.35', command: ['sleep', '3600'] }] },
    };
    applyPodDefaults(pod);
    const uid = pod.metadata.uid!;
    workers.update(pod);
    await waitFor('running', () => Promise.resolve(workers.statusOf(uid)?.containerStatuses?.[0]?.state.running ? true : undefined), 5000);
    const [c] = (await cri.ListContainers({ filter: { labelSelector: { 'io.kubernetes.pod.uid': uid } } })).containers;
    await cri.StopContainer({ containerId: c!.id, timeout: 0 });
    // What a restarted PLEG's first relist delivers: the new state, and no events.
    workers.runtimeState(uid, await inspectPod(cri, uid, 'sim'), false);
    await waitFor('restarted', () => Promise.resolve((workers.statusOf(uid)?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? true : undefined), 5000);
    assert.ok(workers.statusOf(uid)?.containerStatuses?.[0]?.state.running);
  });

  it('does not wake for a state it already saw (no sync storm from repeated relists)', async () => {
    const pod: Pod = {
      metadata: { name: 'calm', namespace: 'default', uid: `lt2-${Date.now()}` },
      spec: { containers: [{ name: 'app', image: 'busybox:1.35', command: ['sleep', '3600'] }] },
    };
    applyPodDefaults(pod);
    const uid = pod.metadata.uid!;
    workers.update(pod);
    await waitFor('running', () => Promise.resolve(workers.statusOf(uid)?.containerStatuses?.[0]?.state.running ? true : undefined), 5000);
    await new Promise((r) => setTimeout(r, 200));
    const before = sim.stats().calls['ListContainers'] ?? 0;
    const state = await inspectPod(cri, uid, 'sim');
    const afterInspect = sim.stats().calls['ListContainers'] ?? 0;
    for (let i = 0; i < 20; i++) workers.runtimeState(uid, state, false);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((sim.stats().calls['ListContainers'] ?? 0) - afterInspect, 0, `no sync ran (its inspect would list containers); before ${before}`);
  });
  it('answers a PLEG-woken sync from the PLEG state, without reading the runtime again', async () => {
    const pod: Pod = {
      metadata: { name: 'cached', namespace: 'default', uid: `lt3-${Date.now()}` },
      spec: { containers: [{ name: 'app', image: 'busybox:1.35', command: ['sleep', '3600'] }] },
    };
    applyPodDefaults(pod);
    const uid = pod.metadata.uid!;
    workers.update(pod);
    await waitFor('running', () => Promise.resolve(workers.statusOf(uid)?.containerStatuses?.[0]?.state.running ? true : undefined), 5000);
    await new Promise((r) => setTimeout(r, 200));
    const [c] = (await cri.ListContainers({ filter: { labelSelector: { 'io.kubernetes.pod.uid': uid } } })).containers;
    await cri.StopContainer({ containerId: c!.id, timeout: 0 });
    // The PLEG's inspection of the dead container, with its event: the sync that restarts the
    // container needs no inspection of its own before it acts (only its read-back after).
    const skipped = workers.skippedInspections;
    const seen = await inspectPod(cri, uid, 'sim');
    const lists = sim.stats().calls['ListContainers'] ?? 0;
    workers.runtimeState(uid, seen, true);
    await waitFor(
      'restarted',
      () =>
        Promise.resolve(
          (workers.statusOf(uid)?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && workers.statusOf(uid)?.containerStatuses?.[0]?.state.running
            ? true
            : undefined,
        ),
      5000,
    );
    assert.equal(workers.skippedInspections, skipped + 1);
    assert.equal((sim.stats().calls['ListContainers'] ?? 0) - lists, 1, 'one list: the read-back after the restart');
  });

  it('does not let an older PLEG state replace a newer read-back, and inspects after its own changes', async () => {
    const pod: Pod = {
      metadata: { name: 'older', namespace: 'default', uid: `lt4-${Date.now()}` },
      spec: { containers: [{ name: 'app', image: 'busybox:1.35', command: ['sleep', '3600'] }] },
    };
    applyPodDefaults(pod);
    const uid = pod.metadata.uid!;
    // A PLEG inspection from before the pod existed, delivered late.
    const old = await inspectPod(cri, uid, 'sim');
    await new Promise((r) => setTimeout(r, 5));
    workers.update(pod);
    await waitFor('running', () => Promise.resolve(workers.statusOf(uid)?.containerStatuses?.[0]?.state.running ? true : undefined), 5000);
    workers.runtimeState(uid, old, true);
    assert.equal(workers.cache.get(uid)?.containers.length, 1, 'the newer state stays');
    assert.ok(workers.statusOf(uid)?.containerStatuses?.[0]?.state.running, 'the status does not go back');
    // Its event still woke the worker; the sync used the current cache and changed nothing.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await cri.ListContainers({ filter: { labelSelector: { 'io.kubernetes.pod.uid': uid } } })).containers.length, 1, 'no second container');
  });
});
