// Eviction through a real API server and controller-manager, on the simulated runtime (so the
// node's memory is the simulation's: pressure on demand, no real memory taken on a shared machine).
// With evictionHard memory.available<1Gi and the node's available memory set below it: the node
// reports MemoryPressure with upstream's reason, the controller-manager taints it, the BestEffort
// pod using the most memory ends Failed/Evicted with upstream's message and a Warning Evicted
// event (what `kubectl get pod` shows upstream), the Guaranteed pod beside it keeps running, a new
// BestEffort pod is refused with reason Evicted; with the memory back, the condition clears after
// the transition period (30 s, so the 10 s node status loop surely reports it) and the taint goes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { eventually, kubectlJson, startClusterNode, type ClusterNode } from '../helpers/cluster-node.js';
import { startSimRuntimeServer, type SimRuntimeServer } from '../../src/sim/index.js';

const Mi = 2 ** 20;
const Gi = 2 ** 30;

interface PodJson {
  metadata: { uid: string };
  status?: { phase?: string; reason?: string; message?: string };
}
interface NodeJson {
  spec?: { taints?: { key: string; effect: string }[] };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

const pod = (name: string, resources: object = {}): object => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name },
  spec: {
    nodeName: 'n1',
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: 30,
    containers: [{ name: 'c', image: 'docker.io/library/busybox:1.35', command: ['sleep', '3600'], resources }],
  },
});

describe('eviction through the API server', () => {
  let cluster: TestCluster;
  let node: ClusterNode;
  let sim: SimRuntimeServer;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kts-eviction-cluster-'));
    sim = await startSimRuntimeServer({ listen: `unix://${join(dir, 'sim.sock')}`, runtime: { seed: 19 } });
    cluster = await startTestCluster({ controllers: true });
    await cluster.kubectl(['create', 'serviceaccount', 'default', '-n', 'default']);
    node = await startClusterNode(cluster, {
      runtimeEndpoint: sim.endpoint,
      extraArgs: ['--eviction-hard', 'memory.available<1Gi', '--eviction-pressure-transition-period', '30s', '--housekeeping-interval', '1s'],
    });
  });

  after(async () => {
    try {
      await node?.stop();
    } finally {
      await cluster?.stop();
      await sim?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const condition = async (type: string): Promise<{ status: string; reason?: string } | undefined> =>
    (await kubectlJson<NodeJson>(cluster, ['get', 'node', 'n1'])).status?.conditions?.find((c) => c.type === type);

  it('evicts the BestEffort memory hog, keeps the Guaranteed pod, refuses BestEffort pods until the pressure ends', async () => {
    await eventually('node n1 registered and ready', async () => (await condition('Ready'))?.status === 'True', 90_000);
    const apply = async (obj: object): Promise<void> => {
      const r = await cluster.kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(obj) });
      assert.equal(r.code, 0, r.stderr);
    };
    await apply(pod('hog'));
    await apply(pod('steady', { requests: { cpu: '100m', memory: '100Mi' }, limits: { cpu: '100m', memory: '100Mi' } }));
    const running = async (name: string): Promise<PodJson> =>
      eventually(`${name} Running`, async () => {
        const p = await kubectlJson<PodJson>(cluster, ['get', 'pod', name]);
        return p.status?.phase === 'Running' ? p : undefined;
      });
    const hog = await running('hog');
    const steady = await running('steady');
    assert.equal((await condition('MemoryPressure'))?.reason, 'KubeletHasSufficientMemory');

    sim.runtime.setPodUsage(hog.metadata.uid, { workingSetBytes: 900 * Mi });
    sim.runtime.setPodUsage(steady.metadata.uid, { workingSetBytes: 80 * Mi });
    // The node with no pod running has 1.5 GiB; with these two, 520 MiB: under the threshold
    // until the hog goes (the sim takes the running containers' usage off its figures).
    sim.runtime.setNodeFigures({ memory: { availableBytes: 1500 * Mi } });

    const evicted = await eventually(
      'hog Failed/Evicted',
      async () => {
        const p = await kubectlJson<PodJson>(cluster, ['get', 'pod', 'hog']);
        return p.status?.phase === 'Failed' ? p : undefined;
      },
      60_000,
    );
    assert.equal(evicted.status?.reason, 'Evicted');
    assert.equal(evicted.status?.message, 'The node was low on resource: memory. Container c was using 900Mi, which exceeds its request of 0. ');
    const events = await kubectlJson<{ items: { reason: string; type: string; message: string }[] }>(cluster, [
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=hog',
    ]);
    assert.ok(
      events.items.some((e) => e.reason === 'Evicted' && e.type === 'Warning' && e.message === evicted.status?.message),
      JSON.stringify(events.items.map((e) => e.reason)),
    );
    const got = await cluster.kubectl(['get', 'pod', 'hog', '--no-headers']);
    assert.match(got.stdout, /^hog\s+0\/1\s+Evicted\s/, 'kubectl shows the reason as upstream does');

    const pressure = await eventually('MemoryPressure True on the node', async () => {
      const c = await condition('MemoryPressure');
      return c?.status === 'True' ? c : undefined;
    });
    assert.equal(pressure.reason, 'KubeletHasInsufficientMemory');
    await eventually(
      'the memory-pressure taint from the controller-manager',
      async () =>
        (await kubectlJson<NodeJson>(cluster, ['get', 'node', 'n1'])).spec?.taints?.some(
          (t) => t.key === 'node.kubernetes.io/memory-pressure' && t.effect === 'NoSchedule',
        ) === true,
      60_000,
    );
    assert.equal((await kubectlJson<PodJson>(cluster, ['get', 'pod', 'steady'])).status?.phase, 'Running', 'the Guaranteed pod keeps running');

    await apply(pod('late'));
    const refused = await eventually('late refused', async () => {
      const p = await kubectlJson<PodJson>(cluster, ['get', 'pod', 'late']);
      return p.status?.phase === 'Failed' ? p : undefined;
    });
    assert.equal(refused.status?.reason, 'Evicted');
    assert.equal(refused.status?.message, 'Pod The node had condition: [MemoryPressure]. ', 'upstream rejectPod prefixes "Pod "');

    sim.runtime.setNodeFigures({ memory: { availableBytes: 60 * Gi } });
    await eventually('MemoryPressure False again', async () => (await condition('MemoryPressure'))?.status === 'False', 60_000);
    await eventually(
      'the taint gone',
      async () => !(await kubectlJson<NodeJson>(cluster, ['get', 'node', 'n1'])).spec?.taints?.some((t) => t.key === 'node.kubernetes.io/memory-pressure'),
      60_000,
    );
    assert.equal((await kubectlJson<PodJson>(cluster, ['get', 'pod', 'steady'])).status?.phase, 'Running');
  });
});
