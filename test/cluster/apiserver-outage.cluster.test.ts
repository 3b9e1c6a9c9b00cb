// The API server stopped for 60 s under a running node: pods keep running and nothing is
// restarted; the kubelet retries with backoff; when the API server is back, the Lease and the
// node status catch up, a status change that happened during the outage reaches the API server,
// and the runtime holds exactly the sandboxes and containers it held before (no duplicates).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { eventually, kubectlJson, startClusterNode, type ClusterNode } from '../helpers/cluster-node.js';
import { connectCri } from '../../src/native/cri/index.js';

interface K8sPod {
  metadata: { name: string; uid: string };
  status?: { phase?: string; containerStatuses?: { restartCount: number; containerID?: string }[] };
}

function pod(name: string, command: string, restartPolicy = 'Always'): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      nodeName: 'n1',
      automountServiceAccountToken: false,
      restartPolicy,
      terminationGracePeriodSeconds: 2,
      containers: [{ name: 'main', image: 'docker.io/library/busybox:1.35', command: ['sh', '-c', command] }],
    },
  });
}

describe('API server outage', () => {
  let cluster: TestCluster;
  let node: ClusterNode;

  before(async () => {
    cluster = await startTestCluster();
    await cluster.kubectl(['create', 'serviceaccount', 'default', '-n', 'default']);
    node = await startClusterNode(cluster);
  });

  after(async () => {
    try {
      await node?.stop();
    } finally {
      await cluster?.stop();
    }
  });

  it('pods keep running through 60 s without the API server; status and Lease catch up; no duplicates', async () => {
    const names = ['a', 'b', 'c', 'd'];
    for (const n of names) assert.equal((await cluster.kubectl(['apply', '-f', '-'], { stdin: pod(n, 'exec sleep 3600') })).code, 0);
    // Exits 40 s from now, inside the outage.
    assert.equal((await cluster.kubectl(['apply', '-f', '-'], { stdin: pod('short', 'sleep 40; exit 3', 'Never') })).code, 0);
    await eventually(
      'all five Running',
      async () => {
        const list = await kubectlJson<{ items: K8sPod[] }>(cluster, ['get', 'pods']);
        return list.items.length === 5 && list.items.every((p) => p.status?.phase === 'Running');
      },
      60_000,
    );
    const cri = connectCri(node.endpoint);
    try {
      const sandboxesBefore = (await cri.ListPodSandbox({})).items.map((s) => s.id).sort();
      const containersBefore = (await cri.ListContainers({})).containers.map((c) => c.id).sort();
      assert.equal(sandboxesBefore.length, 5);

      const stoppedAt = Date.now();
      await cluster.stopApiServer();
      await sleep(60_000);
      // During the outage: the same sandboxes and containers (none restarted), the short one exited.
      const during = (await cri.ListContainers({})).containers;
      assert.deepEqual(during.map((c) => c.id).sort(), containersBefore, 'no container created or removed during the outage');
      assert.equal(during.filter((c) => c.state === 'CONTAINER_RUNNING').length, 4);
      const leaseErrors = node.logLines().filter((l) => l['msg'] === 'lease renewal failed' && Date.parse(String(l['time'])) > stoppedAt);
      assert.ok(leaseErrors.length >= 3, `lease renewal retried (${leaseErrors.length} failures logged)`);
      const waits = leaseErrors.map((l) => Number(l['retryInMs']));
      assert.ok(Math.max(...waits) > Math.min(...waits), `retries back off (${waits.join(', ')} ms)`);

      const backAt = Date.now();
      await cluster.startApiServer();
      const lease = await eventually(
        'lease renewed after the outage',
        async () => {
          const l = await kubectlJson<{ spec: { renewTime: string } }>(cluster, ['get', 'lease', 'n1', '-n', 'kube-node-lease']);
          return Date.parse(l.spec.renewTime) >= backAt - 1000 ? l : undefined;
        },
        30_000,
      );
      assert.ok(lease);
      // With the Lease as heartbeat the node status is written only on change (or every 5 min),
      // as upstream: Ready stays True, and the Lease is what proves the node alive.
      await eventually(
        'node Ready',
        async () => {
          const n = await kubectlJson<{ status: { conditions: { type: string; status: string }[] } }>(cluster, ['get', 'node', 'n1']);
          return n.status.conditions.find((c) => c.type === 'Ready')?.status === 'True';
        },
        30_000,
      );
      const short = await eventually(
        'the exit during the outage reaches the API server',
        async () => {
          const p = await kubectlJson<K8sPod>(cluster, ['get', 'pod', 'short']);
          return p.status?.phase === 'Failed' ? p : undefined;
        },
        30_000,
      );
      assert.equal(short.status?.phase, 'Failed');
      const list = await kubectlJson<{ items: K8sPod[] }>(cluster, ['get', 'pods']);
      for (const p of list.items.filter((x) => x.metadata.name !== 'short')) {
        assert.equal(p.status?.phase, 'Running', p.metadata.name);
        assert.equal(p.status?.containerStatuses?.[0]?.restartCount, 0, `${p.metadata.name} not restarted`);
      }
      assert.deepEqual((await cri.ListPodSandbox({})).items.map((s) => s.id).sort(), sandboxesBefore, 'no sandbox added or lost');
      assert.deepEqual((await cri.ListContainers({})).containers.map((c) => c.id).sort(), containersBefore, 'no container added or lost');
    } finally {
      cri.close();
    }
    assert.deepEqual(node.forbiddenLines(), []);
  });
});
