// Admission through a real API server: a pod bound to the node whose cpu request is above the
// node's allocatable (the same number the Node object shows) ends Failed with reason OutOfcpu
// and upstream's message, with a Warning event, and starts nothing; a pod that fits runs with
// its QoS class and its limits; deleting the rejected pod removes the object.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { eventually, kubectlJson, startClusterNode, type ClusterNode } from '../helpers/cluster-node.js';
import { cgroupV1Mounts, removeTree } from '../../src/native/cgroups.js';
import { parseQuantity } from '../../src/api/quantity.js';

interface PodJson {
  status?: { phase?: string; reason?: string; message?: string; qosClass?: string; containerStatuses?: unknown[] };
}

async function apply(cluster: TestCluster, obj: unknown): Promise<void> {
  const r = await cluster.kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(obj) });
  assert.equal(r.code, 0, r.stderr);
}

const pod = (name: string, resources: object): object => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: {
    nodeName: 'n1',
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: 1,
    containers: [{ name: 'c', image: 'docker.io/library/busybox:1.35', command: ['sleep', '3600'], resources }],
  },
});

describe('admission through the API server', () => {
  let cluster: TestCluster;
  let node: ClusterNode;
  const cgroupRoot = `/kts-test-admission-${process.pid}`;

  before(async () => {
    cluster = await startTestCluster();
    await cluster.kubectl(['create', 'serviceaccount', 'default', '-n', 'default']);
    node = await startClusterNode(cluster, { extraArgs: ['--cgroup-root', cgroupRoot] });
  });

  after(async () => {
    try {
      await node?.stop();
    } finally {
      await cluster?.stop();
      for (const m of cgroupV1Mounts()) removeTree(`${m.mountPoint}${cgroupRoot}`);
    }
  });

  it('refuses a pod above allocatable cpu with OutOfcpu, and runs one that fits', async () => {
    const nodeObj = await eventually(
      'node n1 registered',
      async () => (await kubectlJson<{ status?: { allocatable?: Record<string, string> } }>(cluster, ['get', 'node', 'n1'])).status?.allocatable,
      90_000,
    );
    const allocMilli = Math.round(parseQuantity(nodeObj['cpu'] ?? '0') * 1000);
    assert.ok(allocMilli > 0);

    await apply(cluster, pod('fits', { requests: { cpu: '100m', memory: '16Mi' }, limits: { cpu: '200m', memory: '64Mi' } }));
    const fits = await eventually(
      'fits Running',
      async () => {
        const p = await kubectlJson<PodJson>(cluster, ['get', 'pod', 'fits']);
        return p.status?.phase === 'Running' ? p : undefined;
      },
      90_000,
    );
    assert.equal(fits.status?.qosClass, 'Burstable');
    const quota = await cluster.kubectl(['exec', 'fits', '--', 'cat', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us']);
    assert.equal(quota.stdout, '20000\n');

    await apply(cluster, pod('too-big', { requests: { cpu: String(allocMilli + 1000) + 'm' } }));
    const big = await eventually(
      'too-big Failed',
      async () => {
        const p = await kubectlJson<PodJson>(cluster, ['get', 'pod', 'too-big']);
        return p.status?.phase === 'Failed' ? p : undefined;
      },
      60_000,
    );
    assert.equal(big.status?.reason, 'OutOfcpu');
    assert.equal(big.status?.message, `Pod Node didn't have enough resource: cpu, requested: ${allocMilli + 1000}, used: 100, capacity: ${allocMilli}`);
    assert.equal(big.status?.containerStatuses, undefined, 'nothing started');
    const events = await eventually(
      'OutOfcpu event',
      async () => {
        const list = await kubectlJson<{ items: { reason?: string; type?: string; message?: string }[] }>(cluster, [
          'get',
          'events',
          '--field-selector',
          'involvedObject.name=too-big',
        ]);
        return list.items.find((e) => e.reason === 'OutOfcpu');
      },
      30_000,
    );
    assert.equal(events.type, 'Warning');
    assert.equal(events.message, `Node didn't have enough resource: cpu, requested: ${allocMilli + 1000}, used: 100, capacity: ${allocMilli}`);

    const del = await cluster.kubectl(['delete', 'pod', 'too-big', '--wait=true', '--timeout=60s']);
    assert.equal(del.code, 0, del.stderr);
    const left = await cluster.kubectl(['get', 'pod', 'too-big']);
    assert.match(left.stderr, /NotFound/);
  });
});
