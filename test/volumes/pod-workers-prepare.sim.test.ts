// The pod workers' prepare hook with the volume manager, on real pool threads and the simulated
// runtime: a pod whose secret is missing does not sync (no sandbox, FailedMount reported,
// status Pending / ContainerCreating), retries after the error backoff, and once the secret
// exists runs with its volume mounted (read back from the runtime's ContainerStatus) and env
// resolved; a bad env key fails that container with CreateContainerConfigError.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { readMountPoints } from '../../src/volumes/mounter.js';
import { SimRuntime } from '../../src/sim/index.js';
import { SyncPool } from '../../src/actors/sync-pool/handle.js';
import { PodWorkers } from '../../src/actors/pod-workers/handle.js';
import type { Pod } from '../../src/api/core-v1.js';
import { applyPodDefaults } from '../../src/pods/static-pod.js';
import { createSimClient } from '../../src/sim/index.js';
import type { CriClient } from '../../src/native/cri/client.js';
import { podPrepare } from '../../src/volumes/prepare.js';
import type { VolumeFailure } from '../../src/volumes/volume-manager.js';
import { waitFor } from '../helpers/cri-fixtures.js';
import { FakeObjects } from './fake-objects.js';
import { volumeRig, type VolumeTestRig } from './helpers.js';

describe('pod workers prepare hook (volumes)', () => {
  let sim: SimRuntime;
  let cri: CriClient;
  let pool: SyncPool;
  let rig: VolumeTestRig;
  let workers: PodWorkers;
  const objects = new FakeObjects();
  const failed: VolumeFailure[] = [];

  before(async () => {
    sim = new SimRuntime({ seed: 3 });
    cri = createSimClient(sim);
    pool = new SyncPool({ runtime: { embedded: sim, name: 'sim' }, threads: 1 });
    rig = await volumeRig({ objects, objectCacheTtlMs: 0 });
    workers = new PodWorkers({
      pool,
      sandbox: {},
      worker: { errorBackoffMs: 100, random: () => 0 },
      prepare: podPrepare(rig.vm, { onFailedMount: (_pod, f) => failed.push(...f) }),
      onGone: (uid) => void rig.vm.tearDown(uid),
    });
  });
  after(async () => {
    workers.stop();
    cri.close();
    await pool.close();
    await sim.close();
    await rig.close();
  });

  it('holds the sync until the secret exists, then mounts it', async () => {
    const pod: Pod = {
      metadata: { name: 'needs-secret', namespace: 'ns1', uid: `prep-${Date.now()}` },
      spec: {
        volumes: [{ name: 'creds', secret: { secretName: 'db' } }],
        containers: [
          {
            name: 'app',
            image: 'busybox:1.35',
            command: ['sleep', '3600'],
            volumeMounts: [{ name: 'creds', mountPath: '/etc/creds' }],
            env: [{ name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }],
          },
        ],
      },
    };
    applyPodDefaults(pod);
    const uid = pod.metadata.uid!;
    workers.update(pod);
    await waitFor('FailedMount reported', () => Promise.resolve(failed.length >= 2 ? true : undefined), 5000);
    assert.equal(failed[0]?.message, 'MountVolume.SetUp failed for volume "creds" : secret "db" not found');
    assert.equal(
      (await cri.ListPodSandbox({ filter: { labelSelector: { 'io.kubernetes.pod.uid': uid } } })).items.length,
      0,
      'no sandbox while a volume is missing',
    );
    const status = workers.statusOf(uid);
    assert.equal(status?.phase, 'Pending');
    assert.equal(status?.containerStatuses?.[0]?.state.waiting?.reason, 'ContainerCreating');

    objects.secret('ns1', 'db', { password: 'pw' });
    await waitFor('the pod running', () => Promise.resolve(workers.statusOf(uid)?.phase === 'Running' ? true : undefined), 5000);
    const list = await cri.ListContainers({ filter: { labelSelector: { 'io.kubernetes.pod.uid': uid } } });
    const st = await cri.ContainerStatus({ containerId: list.containers[0]!.id, verbose: false });
    const dir = `${rig.root}/pods/${uid}/volumes/kubernetes.io~secret/creds`;
    assert.deepEqual(
      st.status?.mounts.map((m) => ({ containerPath: m.containerPath, hostPath: m.hostPath, readonly: m.readonly })),
      [{ containerPath: '/etc/creds', hostPath: dir, readonly: true }],
    );
    workers.remove(uid, 'test', 0);
    await waitFor('the pod gone', () => Promise.resolve(workers.has(uid) ? undefined : true), 10_000);
    await waitFor(
      'its volumes torn down (onGone)',
      () =>
        stat(dir).then(
          () => undefined,
          () => true,
        ),
      5000,
    );
    assert.equal((await readMountPoints()).includes(dir), false, 'the secret tmpfs is unmounted');
  });

  it('an unresolvable env key fails only that container with CreateContainerConfigError', async () => {
    const pod: Pod = {
      metadata: { name: 'bad-env', namespace: 'ns1', uid: `env-${Date.now()}` },
      spec: {
        containers: [
          { name: 'app', image: 'busybox:1.35', command: ['sleep', '3600'], env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'db', key: 'nope' } } }] },
          { name: 'ok', image: 'busybox:1.35', command: ['sleep', '3600'] },
        ],
      },
    };
    applyPodDefaults(pod);
    const uid = pod.metadata.uid!;
    workers.update(pod);
    const waiting = await waitFor(
      'CreateContainerConfigError',
      () =>
        Promise.resolve(
          workers.statusOf(uid)?.containerStatuses?.find((c) => c.name === 'app')?.state.waiting?.reason === 'CreateContainerConfigError'
            ? workers.statusOf(uid)
            : undefined,
        ),
      5000,
    );
    assert.equal(waiting.containerStatuses?.find((c) => c.name === 'app')?.state.waiting?.message, "couldn't find key nope in Secret ns1/db");
    await waitFor(
      'the other container running',
      () => Promise.resolve(workers.statusOf(uid)?.containerStatuses?.find((c) => c.name === 'ok')?.state.running ? true : undefined),
      5000,
    );
    workers.remove(uid, 'test', 0);
    await waitFor('the pod gone', () => Promise.resolve(workers.has(uid) ? undefined : true), 10_000);
  });
});
