// SyncPod end to end on the simulated runtime, without the actor machinery: inspect -> plan ->
// execute -> status, repeated as the pod worker will. Shows the pieces agree on labels,
// attempts, restart counts, backoff and reasons.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimRuntime, createSimClient } from '../../src/sim/index.js';
import type { CriClient } from '../../src/native/cri/client.js';
import type { Pod, PodStatus } from '../../src/api/core-v1.js';
import { Backoff } from '../../src/pods/backoff.js';
import { applySyncResult, executeSync, inspectPod, planSync, type SyncContext, type SyncPlan } from '../../src/pods/sync.js';
import { computePodStatus } from '../../src/pods/status.js';
import { applyPodDefaults } from '../../src/pods/static-pod.js';
import { waitFor } from '../helpers/cri-fixtures.js';

let uidSeq = 0;
function pod(spec: Partial<Pod['spec']> & Pick<Pod['spec'], 'containers'>): Pod {
  const p: Pod = {
    metadata: { name: `p${++uidSeq}`, namespace: 'default', uid: `uid-${uidSeq}-${Date.now()}` },
    spec: { terminationGracePeriodSeconds: 1, ...spec },
  };
  applyPodDefaults(p);
  return p;
}

describe('SyncPod on the simulated runtime', () => {
  let sim: SimRuntime;
  let cri: CriClient;
  let logs: string;
  let ctx: SyncContext;
  let status: PodStatus | undefined;
  let lastPlan: SyncPlan | undefined;

  async function sync(p: Pod): Promise<PodStatus> {
    const state = await inspectPod(cri, p.metadata.uid!, 'sim');
    ctx.now = Date.now();
    lastPlan = planSync(p, state, ctx);
    const result = await executeSync(cri, p, lastPlan, { attempt: lastPlan.attempt, podLogsDir: logs });
    const errors = applySyncResult(p, lastPlan, result, ctx);
    const after = await inspectPod(cri, p.metadata.uid!, 'sim');
    status = computePodStatus(p, after, { now: new Date().toISOString(), syncErrors: errors, previous: status });
    return status;
  }

  before(() => {
    sim = new SimRuntime({ seed: 1, pull: { latencyMs: 5, failures: [{ pattern: 'example.invalid/*', message: 'no such host' }] } });
    cri = createSimClient(sim);
    logs = mkdtempSync(join(tmpdir(), 'kts-sync-'));
    ctx = { now: Date.now(), crashBackoff: new Backoff(10_000, 300_000), pullBackoff: new Backoff(10_000, 300_000) };
  });

  after(async () => {
    cri.close();
    await sim.close();
    rmSync(logs, { recursive: true, force: true });
  });

  it('runs init containers in order, then the app, with upstream labels and status', async () => {
    status = undefined;
    const p = pod({
      initContainers: [
        { name: 'init-a', image: 'busybox:1.35', command: ['true'] },
        { name: 'init-b', image: 'busybox:1.35', command: ['true'] },
      ],
      containers: [{ name: 'app', image: 'busybox:1.35', command: ['sleep', '3600'] }],
    });
    let s = await sync(p);
    assert.equal(lastPlan?.createSandbox, true);
    assert.deepEqual(
      lastPlan?.start.map((x) => x.name),
      ['init-a'],
    );
    assert.equal(s.phase, 'Pending');
    await waitFor('init-a done', async () =>
      (await inspectPod(cri, p.metadata.uid!, 'sim')).containers.some((c) => c.name === 'init-a' && c.state === 'exited') ? true : undefined,
    );
    await sync(p);
    assert.deepEqual(
      lastPlan?.start.map((x) => x.name),
      ['init-b'],
    );
    await waitFor('init-b done', async () =>
      (await inspectPod(cri, p.metadata.uid!, 'sim')).containers.some((c) => c.name === 'init-b' && c.state === 'exited') ? true : undefined,
    );
    s = await sync(p);
    assert.deepEqual(
      lastPlan?.start.map((x) => x.name),
      ['app'],
    );
    assert.equal(s.phase, 'Running');
    assert.equal(s.conditions?.find((c) => c.type === 'Initialized')?.status, 'True');
    assert.equal(s.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    assert.match(s.podIP ?? '', /^10\.88\./);
    assert.equal(s.initContainerStatuses?.[1]?.state.terminated?.reason, 'Completed');
    const list = await cri.ListContainers({ filter: { labelSelector: { 'io.kubernetes.pod.uid': p.metadata.uid!, 'io.kubernetes.container.name': 'app' } } });
    assert.equal(list.containers.length, 1, 'containers carry the upstream labels');
    await sync(p);
    assert.deepEqual(lastPlan?.start, [], 'a converged pod starts nothing');
    assert.equal(lastPlan?.killPod, false);
  });

  it('restarts a crashing container with restartCount + 1, then holds it in CrashLoopBackOff', async () => {
    status = undefined;
    const p = pod({ containers: [{ name: 'crash', image: 'busybox:1.35', command: ['sh', '-c', 'exit 3'] }] });
    await sync(p);
    const dead = async (n: number): Promise<void> => {
      await waitFor(`crash #${n} exited`, async () =>
        (await inspectPod(cri, p.metadata.uid!, 'sim')).containers.filter((c) => c.state === 'exited').length >= n ? true : undefined,
      );
    };
    await dead(1);
    await sync(p);
    assert.deepEqual(
      lastPlan?.start.map((x) => [x.name, x.restartCount]),
      [['crash', 1]],
      'first restart goes at once',
    );
    await dead(2);
    const s = await sync(p);
    assert.deepEqual(lastPlan?.start, []);
    const cs = s.containerStatuses?.[0];
    assert.equal(cs?.state.waiting?.reason, 'CrashLoopBackOff');
    assert.match(cs?.state.waiting?.message ?? '', /^back-off 10s restarting failed container=crash pod=p\d+_default\(/);
    assert.equal(cs?.lastState.terminated?.exitCode, 3);
    assert.equal(cs?.restartCount, 1);
    assert.ok((lastPlan?.retryAfterMs ?? 0) > 0 && (lastPlan?.retryAfterMs ?? 0) <= 10_000, 'requeue when the backoff ends');
  });

  it('finishes a Never pod as Succeeded and then kills its sandbox', async () => {
    status = undefined;
    const p = pod({ restartPolicy: 'Never', containers: [{ name: 'job', image: 'busybox:1.35', command: ['echo', 'done'] }] });
    await sync(p);
    await waitFor('job exited', async () => ((await inspectPod(cri, p.metadata.uid!, 'sim')).containers.some((c) => c.state === 'exited') ? true : undefined));
    const s = await sync(p);
    assert.equal(s.phase, 'Succeeded');
    assert.equal(lastPlan?.killPod, true);
    const state = await inspectPod(cri, p.metadata.uid!, 'sim');
    assert.equal(state.sandboxes[0]?.ready, false, 'the sandbox of a finished pod is stopped');
  });

  it('reports ErrImageNeverPull, and ErrImagePull then ImagePullBackOff', async () => {
    status = undefined;
    const never = pod({ containers: [{ name: 'c', image: 'example.com/absent:1', imagePullPolicy: 'Never' }] });
    let s = await sync(never);
    assert.equal(s.containerStatuses?.[0]?.state.waiting?.reason, 'ErrImageNeverPull');
    assert.match(s.containerStatuses?.[0]?.state.waiting?.message ?? '', /is not present with pull policy of Never/);
    status = undefined;
    const bad = pod({ containers: [{ name: 'c', image: 'example.invalid/nope:1' }] });
    s = await sync(bad);
    assert.equal(s.containerStatuses?.[0]?.state.waiting?.reason, 'ErrImagePull');
    s = await sync(bad);
    assert.equal(s.containerStatuses?.[0]?.state.waiting?.reason, 'ImagePullBackOff');
    assert.equal(s.phase, 'Pending');
  });
});
