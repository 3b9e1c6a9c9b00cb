// Memory eviction on real containerd through a real API server: a pod that writes a bounded
// 1 GiB into a `medium: Memory` emptyDir (the kernel charges tmpfs pages to its cgroup; never an
// unbounded grower on a shared machine), with evictionHard memory.available set 600 MiB below
// what the node had at test start. The kubelet reads the root memory cgroup as upstream does:
// the filler is evicted (Failed/Evicted, the event), its memory emptyDir is torn down so the
// memory comes back, the Guaranteed pod beside it keeps running, and MemoryPressure goes True
// and back to False after the (shortened) transition period.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { eventually, kubectlJson, startClusterNode, type ClusterNode } from '../helpers/cluster-node.js';
import { cgroupV1Mounts } from '../../src/native/cgroups.js';
import { CgroupStats } from '../../src/native/stats/cgroup.js';
import { readNodeMemory } from '../../src/native/stats/node.js';

const Mi = 2 ** 20;

interface PodJson {
  status?: { phase?: string; reason?: string; message?: string };
}
interface NodeJson {
  status?: { conditions?: { type: string; status: string; reason?: string }[] };
}

describe('memory eviction on containerd', () => {
  let cluster: TestCluster;
  let node: ClusterNode;
  let thresholdMi = 0;

  before(async () => {
    cluster = await startTestCluster();
    await cluster.kubectl(['create', 'serviceaccount', 'default', '-n', 'default']);
    // What the kubelet will measure, measured the same way, with the control plane already up.
    const mem = readNodeMemory(new CgroupStats(cgroupV1Mounts()));
    assert.ok(mem.ok, !mem.ok ? mem.error : '');
    thresholdMi = Math.floor(mem.value.availableBytes / Mi) - 600;
    node = await startClusterNode(cluster, {
      extraArgs: ['--eviction-hard', `memory.available<${thresholdMi}Mi`, '--eviction-pressure-transition-period', '20s', '--housekeeping-interval', '2s'],
    });
  });

  after(async () => {
    try {
      await node?.stop();
    } finally {
      await cluster?.stop();
    }
  });

  const condition = async (type: string): Promise<{ status: string; reason?: string } | undefined> =>
    (await kubectlJson<NodeJson>(cluster, ['get', 'node', 'n1'])).status?.conditions?.find((c) => c.type === type);
  const phase = async (name: string): Promise<PodJson['status']> => (await kubectlJson<PodJson>(cluster, ['get', 'pod', name])).status;

  it('evicts the pod filling a memory emptyDir, keeps the Guaranteed one, and the pressure clears', async () => {
    await eventually('node n1 ready', async () => (await condition('Ready'))?.status === 'True', 90_000);
    assert.equal((await condition('MemoryPressure'))?.status, 'False', `no pressure before the filler (threshold ${thresholdMi}Mi)`);
    const base = { apiVersion: 'v1', kind: 'Pod', spec: { nodeName: 'n1', automountServiceAccountToken: false, terminationGracePeriodSeconds: 1 } };
    const steady = {
      ...base,
      metadata: { name: 'steady' },
      spec: {
        ...base.spec,
        containers: [
          {
            name: 'c',
            image: 'docker.io/library/busybox:1.35',
            command: ['sleep', '3600'],
            resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { cpu: '50m', memory: '32Mi' } },
          },
        ],
      },
    };
    let r = await cluster.kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(steady) });
    assert.equal(r.code, 0, r.stderr);
    await eventually('steady Running', async () => (await phase('steady'))?.phase === 'Running', 120_000);

    const filler = {
      ...base,
      metadata: { name: 'filler' },
      spec: {
        ...base.spec,
        volumes: [{ name: 'mem', emptyDir: { medium: 'Memory' } }],
        containers: [
          {
            name: 'fill',
            image: 'docker.io/library/busybox:1.35',
            command: ['sh', '-c', 'dd if=/dev/zero of=/mem/fill bs=1M count=1024 && sleep 3600'],
            volumeMounts: [{ name: 'mem', mountPath: '/mem' }],
          },
        ],
      },
    };
    r = await cluster.kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(filler) });
    assert.equal(r.code, 0, r.stderr);

    const evicted = await eventually(
      'filler Failed/Evicted',
      async () => {
        const s = await phase('filler');
        return s?.phase === 'Failed' ? s : undefined;
      },
      120_000,
    );
    assert.equal(evicted?.reason, 'Evicted');
    assert.match(evicted?.message ?? '', /^The node was low on resource: memory\. Container fill was using \d+(Ki|Mi), which exceeds its request of 0\. $/);
    const events = await kubectlJson<{ items: { reason: string; type: string }[] }>(cluster, [
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=filler',
    ]);
    assert.ok(
      events.items.some((e) => e.reason === 'Evicted' && e.type === 'Warning'),
      JSON.stringify(events.items.map((e) => e.reason)),
    );
    await eventually('MemoryPressure True on the node', async () => (await condition('MemoryPressure'))?.status === 'True', 30_000);

    // The filler's tmpfs is gone with it: the node's memory comes back, and the pressure ends.
    await eventually(
      'the memory back above the threshold',
      () => {
        const m = readNodeMemory(new CgroupStats(cgroupV1Mounts()));
        return Promise.resolve(m.ok && m.value.availableBytes > (thresholdMi + 300) * Mi ? true : undefined);
      },
      60_000,
    );
    await eventually('MemoryPressure False again', async () => (await condition('MemoryPressure'))?.status === 'False', 90_000);
    assert.equal((await phase('steady'))?.phase, 'Running', 'the Guaranteed pod keeps running');
  });
});
