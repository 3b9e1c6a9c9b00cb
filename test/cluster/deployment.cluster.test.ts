// A Deployment scheduled to kubelet-ts by a real kube-scheduler and kube-controller-manager:
// 30 replicas reach Running and Ready (the Deployment's own readyReplicas says so), scaling to
// 0 terminates them gracefully (SIGTERM handled, exit 0 inside the grace period) and the pod
// objects disappear; the runtime is left with no sandbox of theirs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { eventually, kubectlJson, startClusterNode, type ClusterNode } from '../helpers/cluster-node.js';
import { connectCri } from '../../src/native/cri/index.js';
import { ApiClient } from '../../src/api/client.js';

const REPLICAS = 30;

function deployment(replicas: number): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          terminationGracePeriodSeconds: 20,
          containers: [
            {
              name: 'main',
              image: 'docker.io/library/busybox:1.35',
              imagePullPolicy: 'IfNotPresent',
              command: ['sh', '-c', "trap 'echo bye; exit 0' TERM; while true; do sleep 1; done"],
            },
          ],
        },
      },
    },
  });
}

describe('a Deployment on kubelet-ts', () => {
  let cluster: TestCluster;
  let node: ClusterNode;

  before(async () => {
    cluster = await startTestCluster({ controllers: true });
    node = await startClusterNode(cluster);
    await eventually(
      'node n1 Ready',
      async () => {
        const n = await kubectlJson<{ status: { conditions: { type: string; status: string }[] } }>(cluster, ['get', 'node', 'n1']);
        return n.status.conditions.find((c) => c.type === 'Ready')?.status === 'True';
      },
      60_000,
    );
    // The token controller makes the namespace's default ServiceAccount; pods need it to exist.
    await eventually('default service account', async () => (await cluster.kubectl(['get', 'serviceaccount', 'default'])).code === 0, 60_000);
  });

  after(async () => {
    try {
      await node?.stop();
    } finally {
      await cluster?.stop();
    }
  });

  it(`${REPLICAS} replicas reach Running and Ready; scaled to 0 they terminate gracefully and disappear`, async () => {
    const t0 = Date.now();
    const r = await cluster.kubectl(['apply', '-f', '-'], { stdin: deployment(REPLICAS) });
    assert.equal(r.code, 0, r.stderr);
    await eventually(
      `${REPLICAS} ready replicas`,
      async () => {
        const d = await kubectlJson<{ status: { readyReplicas?: number } }>(cluster, ['get', 'deployment', 'web']);
        return d.status.readyReplicas === REPLICAS;
      },
      180_000,
      1000,
    );
    const allRunningS = (Date.now() - t0) / 1000;
    const pods = await kubectlJson<{
      items: { metadata: { uid: string }; spec: { nodeName: string }; status: { phase: string; conditions: { type: string; status: string }[] } }[];
    }>(cluster, ['get', 'pods', '-l', 'app=web']);
    assert.equal(pods.items.length, REPLICAS);
    for (const p of pods.items) {
      assert.equal(p.spec.nodeName, 'n1');
      assert.equal(p.status.phase, 'Running');
      assert.equal(p.status.conditions.find((c) => c.type === 'Ready')?.status, 'True');
    }
    const uids = new Set(pods.items.map((p) => p.metadata.uid));
    // The default service account token the ServiceAccount admission plugin mounted (a secret volume).
    const first = (await kubectlJson<{ items: { metadata: { name: string } }[] }>(cluster, ['get', 'pods', '-l', 'app=web'])).items[0]?.metadata.name ?? '';
    const sa = await cluster.kubectl([
      'exec',
      first,
      '--',
      'sh',
      '-c',
      'cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; test -s /var/run/secrets/kubernetes.io/serviceaccount/token && test -s /var/run/secrets/kubernetes.io/serviceaccount/ca.crt && echo " token ok"',
    ]);
    assert.equal(sa.stdout, 'default token ok\n', sa.stderr);

    // Watch the pods while they go: the last status each one had before its object was deleted.
    const admin = await ApiClient.fromKubeconfig(cluster.adminKubeconfig, { qps: 0, burst: 0 });
    const lastExit = new Map<string, { exitCode?: number; reason?: string } | undefined>();
    const watch = admin.watch<{
      metadata: { uid: string };
      status?: { containerStatuses?: { state: { terminated?: { exitCode?: number; reason?: string } } }[] };
    }>('/api/v1/namespaces/default/pods', { labelSelector: 'app=web', resourceVersion: '0' }, (ev) => {
      const t = ev.object.status?.containerStatuses?.[0]?.state.terminated;
      if (t) lastExit.set(ev.object.metadata.uid, t);
    });
    const s = await cluster.kubectl(['scale', 'deployment', 'web', '--replicas=0']);
    assert.equal(s.code, 0, s.stderr);
    await eventually(
      'all pod objects gone',
      async () => {
        const l = await kubectlJson<{ items: unknown[] }>(cluster, ['get', 'pods', '-l', 'app=web']);
        return l.items.length === 0;
      },
      120_000,
      1000,
    );
    const cri = connectCri(node.endpoint);
    try {
      const left = await eventually(
        'sandboxes removed',
        async () => {
          const sb = (await cri.ListPodSandbox({})).items.filter((x) => uids.has(x.metadata?.uid ?? ''));
          return sb.length === 0 ? sb : undefined;
        },
        60_000,
      );
      assert.equal(left.length, 0);
    } finally {
      cri.close();
    }
    watch.stop();
    admin.close();
    // Graceful: every container ran its TERM trap and exited 0 (a SIGKILL after the grace period
    // would show 137), and the final status reached the API server before the object went.
    assert.equal(lastExit.size, REPLICAS, 'a final status for every pod');
    for (const [uid, t] of lastExit) assert.deepEqual([t?.exitCode, t?.reason], [0, 'Completed'], uid);
    assert.deepEqual(node.forbiddenLines(), []);
    console.log(`# ${REPLICAS} replicas all Ready ${allRunningS.toFixed(1)} s after the Deployment was created`);
  });
});
