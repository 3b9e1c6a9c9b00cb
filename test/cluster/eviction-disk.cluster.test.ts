// Disk eviction on real containerd through a real API server: the kubelet's root dir on a small
// tmpfs of this test's own (300 MiB; containerd's images stay on their own filesystem, so the
// image filesystem is dedicated and nodefs counts logs and local volumes), evictionHard
// nodefs.available<50%. A pod writing 200 MiB into an emptyDir crosses it: DiskPressure, the pod is
// evicted with the ephemeral-storage message, its emptyDir is removed, the pressure clears after
// the (shortened) transition period, and the pod beside it keeps running.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { eventually, kubectlJson, startClusterNode, unmountUnder, type ClusterNode } from '../helpers/cluster-node.js';
import { readFs } from '../../src/native/stats/node.js';

interface PodJson {
  metadata: { uid: string };
  status?: { phase?: string; reason?: string; message?: string };
}
interface NodeJson {
  status?: { conditions?: { type: string; status: string; reason?: string }[] };
}

describe('disk eviction on containerd', () => {
  let cluster: TestCluster;
  let node: ClusterNode;
  let root: string;

  before(async () => {
    root = mkdtempSync('/var/lib/kts-test-disk-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=300m', 'kts-test-disk', root]);
    cluster = await startTestCluster();
    await cluster.kubectl(['create', 'serviceaccount', 'default', '-n', 'default']);
    node = await startClusterNode(cluster, {
      extraArgs: [
        '--root-dir',
        root,
        '--eviction-hard',
        'nodefs.available<50%',
        '--eviction-pressure-transition-period',
        '20s',
        '--housekeeping-interval',
        '2s',
      ],
    });
  });

  after(async () => {
    try {
      await node?.stop();
    } finally {
      await cluster?.stop();
      unmountUnder(root);
      try {
        execFileSync('umount', ['-l', root]);
      } catch {
        // not mounted
      }
      rmSync(root, { recursive: true, force: true });
    }
  });

  const condition = async (type: string): Promise<{ status: string; reason?: string } | undefined> =>
    (await kubectlJson<NodeJson>(cluster, ['get', 'node', 'n1'])).status?.conditions?.find((c) => c.type === type);
  const pod = async (name: string): Promise<PodJson> => kubectlJson<PodJson>(cluster, ['get', 'pod', name]);

  it('evicts the pod filling an emptyDir, removes the emptyDir, and the pressure clears', async () => {
    await eventually('node n1 ready', async () => (await condition('Ready'))?.status === 'True', 90_000);
    assert.equal((await condition('DiskPressure'))?.status, 'False');
    const base = { apiVersion: 'v1', kind: 'Pod', spec: { nodeName: 'n1', automountServiceAccountToken: false, terminationGracePeriodSeconds: 1 } };
    const make = (name: string, command: string, volumes = false): object => ({
      ...base,
      metadata: { name },
      spec: {
        ...base.spec,
        ...(volumes ? { volumes: [{ name: 'scratch', emptyDir: {} }] } : {}),
        containers: [
          {
            name: 'c',
            image: 'docker.io/library/busybox:1.35',
            command: ['sh', '-c', command],
            ...(volumes ? { volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] } : {}),
          },
        ],
      },
    });
    let r = await cluster.kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(make('steady', 'sleep 3600')) });
    assert.equal(r.code, 0, r.stderr);
    await eventually('steady Running', async () => (await pod('steady')).status?.phase === 'Running', 120_000);
    r = await cluster.kubectl(['apply', '-f', '-'], {
      stdin: JSON.stringify(make('filler', 'dd if=/dev/zero of=/scratch/fill bs=1M count=200 && sleep 3600', true)),
    });
    assert.equal(r.code, 0, r.stderr);
    const uid = (await eventually('filler created', async () => (await pod('filler')).metadata.uid)) ?? '';

    const evicted = await eventually(
      'filler Failed/Evicted',
      async () => {
        const p = await pod('filler');
        return p.status?.phase === 'Failed' ? p.status : undefined;
      },
      120_000,
    );
    assert.equal(evicted?.reason, 'Evicted');
    assert.match(evicted?.message ?? '', /^The node was low on resource: ephemeral-storage\. /);
    await eventually('DiskPressure True on the node', async () => (await condition('DiskPressure'))?.status === 'True', 30_000);
    await eventually(
      "the filler's emptyDir removed",
      () => {
        let left: string[];
        try {
          left = readdirSync(join(root, 'pods', uid, 'volumes', 'kubernetes.io~empty-dir'));
        } catch {
          left = [];
        }
        return Promise.resolve(left.length === 0 ? true : undefined);
      },
      60_000,
    );
    const fs = readFs(root);
    assert.ok(fs.ok && fs.value.availableBytes > fs.value.capacityBytes / 2, 'the space is back');
    await eventually('DiskPressure False again', async () => (await condition('DiskPressure'))?.status === 'False', 90_000);
    assert.equal((await pod('steady')).status?.phase, 'Running', 'the pod beside it keeps running');
  });
});
