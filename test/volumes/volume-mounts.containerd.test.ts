// Volumes on real containerd: the volume manager prepares a secret volume (tmpfs, atomic-writer
// layout), a configMap item at a subPath and a memory emptyDir; executeSync creates a busybox
// container with the CRI mounts cri-config builds; the container cats the files and writes
// to the emptyDir, and its log file (CRI log format) shows the content. Proves the mounts work
// through a real runtime, symlinks (key -> ..data/key) included.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectCri } from '../../src/native/cri/index.js';
import type { CriClient } from '../../src/native/cri/client.js';
import type { Pod } from '../../src/api/core-v1.js';
import { Backoff } from '../../src/pods/backoff.js';
import { podLogDirectory } from '../../src/pods/cri-config.js';
import { emptyRuntimeState, LABEL_POD_UID } from '../../src/pods/runtime-state.js';
import { applyPodDefaults } from '../../src/pods/static-pod.js';
import { executeSync, planSync } from '../../src/pods/sync.js';
import { podPrepare } from '../../src/volumes/prepare.js';
import { startTestContainerd, type ContainerdFixture } from '../helpers/containerd-fixture.js';
import { waitFor } from '../helpers/cri-fixtures.js';
import { FakeObjects } from './fake-objects.js';
import { volumeRig, type VolumeTestRig } from './helpers.js';

describe('volume mounts on containerd', () => {
  let fx: ContainerdFixture;
  let cri: CriClient;
  let rig: VolumeTestRig;
  let logs: string;
  const objects = new FakeObjects();
  const uids: string[] = [];

  before(async () => {
    fx = await startTestContainerd();
    cri = connectCri(fx.containerd.endpoint, { runtimeRequestTimeoutMs: 60_000 });
    rig = await volumeRig({ objects });
    logs = await mkdtemp(join(tmpdir(), 'kts-vol-logs-'));
    objects.secret('default', 'db', { username: 'admin', password: 's3cr3t' });
    objects.configMap('default', 'app', { data: { 'app.conf': 'mode=fast' } });
  });
  after(async () => {
    for (const uid of uids) {
      const sandboxes = await cri.ListPodSandbox({ filter: { labelSelector: { [LABEL_POD_UID]: uid } } }).catch(() => ({ items: [] }));
      for (const s of sandboxes.items) {
        await cri.StopPodSandbox({ podSandboxId: s.id }).catch(() => undefined);
        await cri.RemovePodSandbox({ podSandboxId: s.id }).catch(() => undefined);
      }
    }
    cri.close();
    await fx.close();
    await rig.close();
    await rm(logs, { recursive: true, force: true });
  });

  it('a busybox container reads a secret volume, a configMap subPath and writes a memory emptyDir', async () => {
    const pod: Pod = {
      metadata: { name: 'volumes', namespace: 'default', uid: `ctrd-vol-${Date.now()}` },
      spec: {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: 1,
        volumes: [
          { name: 'creds', secret: { secretName: 'db' } },
          { name: 'cfg', configMap: { name: 'app' } },
          { name: 'scratch', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
        ],
        containers: [
          {
            name: 'reader',
            image: fx.busybox,
            command: [
              'sh',
              '-c',
              'echo "user=$(cat /etc/creds/username) pw=$(cat /etc/creds/password)"; cat /etc/app.conf; echo; echo hi > /scratch/out && echo "wrote=$(cat /scratch/out)"; touch /etc/creds/x 2>/dev/null || echo "creds read-only"',
            ],
            volumeMounts: [
              { name: 'creds', mountPath: '/etc/creds' },
              { name: 'cfg', mountPath: '/etc/app.conf', subPath: 'app.conf' },
              { name: 'scratch', mountPath: '/scratch' },
            ],
          },
        ],
      },
    };
    applyPodDefaults(pod);
    const uid = pod.metadata.uid!;
    uids.push(uid);
    const prepared = await podPrepare(rig.vm)(pod);
    assert.ok('prepared' in prepared, JSON.stringify(prepared));
    const plan = planSync(pod, emptyRuntimeState(uid, 'volumes', 'default'), {
      now: Date.now(),
      crashBackoff: new Backoff(10_000, 300_000),
      pullBackoff: new Backoff(10_000, 300_000),
    });
    // No pod cgroups here (no kubelet to create and remove them): the sandbox takes the runtime's default.
    const result = await executeSync(cri, pod, plan, { attempt: 0, podLogsDir: logs, prepared: prepared.prepared, cgroupsPerQOS: false });
    assert.equal(result.sandboxError, undefined);
    assert.deepEqual(
      result.started.map((s) => s.error),
      [undefined],
    );
    const id = result.started[0]!.containerId!;
    const status = await waitFor(
      'the reader to exit',
      async () => {
        const { status } = await cri.ContainerStatus({ containerId: id, verbose: false });
        return status?.state === 'CONTAINER_EXITED' ? status : undefined;
      },
      30_000,
    );
    const log = await readFile(join(podLogDirectory(pod, logs), 'reader', '0.log'), 'utf8');
    const lines = log
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ').slice(3).join(' '));
    assert.equal(status.exitCode, 0, log);
    assert.deepEqual(lines, ['user=admin pw=s3cr3t', 'mode=fast', 'wrote=hi', 'creds read-only']);
    assert.equal(await readFile(join(prepared.prepared.volumes['scratch']!.hostPath, 'out'), 'utf8'), 'hi\n', 'the emptyDir is shared with the host folder');
  });
});
