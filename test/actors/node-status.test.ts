// Node status computation: capacity and allocatable, upstream condition reasons, heartbeat and
// transition times, change detection, and the labels a kubelet may set.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { computeNodeStatus, forbiddenNodeLabels, nodeStatusChanged, type NodeStatusInputs } from '../../src/cluster/node-status.js';

function inputs(over: Partial<NodeStatusInputs['health']> = {}): NodeStatusInputs {
  return {
    host: {
      machineID: 'm',
      systemUUID: 's',
      bootID: 'b',
      kernelVersion: '6.1',
      osImage: 'Debian GNU/Linux 12 (bookworm)',
      architecture: 'amd64',
      operatingSystem: 'linux',
      cpuCores: 2,
      memoryBytes: 8 * 2 ** 30,
      ephemeralStorageBytes: 100 * 2 ** 30,
      hostname: 'h',
    },
    nodeName: 'n1',
    kubeletVersion: 'v1.20.2+kubelet-ts.0.1.0',
    runtimeVersion: 'containerd://1.6.20',
    nodeIPs: ['10.99.0.2'],
    hostnameAddress: 'h',
    port: 10250,
    maxPods: 110,
    systemReserved: { cpu: '100m', memory: '256Mi' },
    kubeReserved: { memory: '256Mi' },
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '10%' },
    health: { runtimeReady: true, networkReady: true, pleg: { ok: true }, memoryPressure: false, diskPressure: false, pidPressure: false, ...over },
    images: [
      { names: ['a'], sizeBytes: 1 },
      { names: ['b'], sizeBytes: 5 },
    ],
  };
}

describe('node status', () => {
  it('reports capacity, allocatable minus reservations and hard eviction, addresses and nodeInfo', () => {
    const s = computeNodeStatus(inputs(), undefined, Date.parse('2026-12-02T00:00:00Z'));
    assert.deepEqual(s.capacity, {
      cpu: '2',
      'ephemeral-storage': `${100 * 2 ** 20}Ki`,
      'hugepages-1Gi': '0',
      'hugepages-2Mi': '0',
      memory: `${8 * 2 ** 20}Ki`,
      pods: '110',
    });
    assert.equal(s.allocatable?.['cpu'], '1900m');
    assert.equal(s.allocatable?.['memory'], `${8 * 2 ** 20 - 512 * 1024 - 100 * 1024}Ki`);
    assert.equal(s.allocatable?.['ephemeral-storage'], `${90 * 2 ** 20}Ki`);
    assert.deepEqual(s.addresses, [
      { type: 'InternalIP', address: '10.99.0.2' },
      { type: 'Hostname', address: 'h' },
    ]);
    assert.equal(s.nodeInfo?.containerRuntimeVersion, 'containerd://1.6.20');
    assert.equal(s.daemonEndpoints?.kubeletEndpoint?.Port, 10250);
    assert.deepEqual(
      s.images?.map((i) => i.names[0]),
      ['b', 'a'],
      'largest image first',
    );
    const ready = s.conditions?.find((c) => c.type === 'Ready');
    assert.deepEqual([ready?.status, ready?.reason, ready?.message], ['True', 'KubeletReady', 'kubelet is posting ready status']);
    assert.deepEqual(
      s.conditions?.map((c) => `${c.type}=${c.status}:${c.reason}`),
      [
        'MemoryPressure=False:KubeletHasSufficientMemory',
        'DiskPressure=False:KubeletHasNoDiskPressure',
        'PIDPressure=False:KubeletHasSufficientPID',
        'Ready=True:KubeletReady',
      ],
    );
  });

  it('is NotReady with upstream words when the runtime is down or PLEG unhealthy; transition time moves only on change', () => {
    const t0 = Date.parse('2026-12-02T00:00:00Z');
    const a = computeNodeStatus(inputs(), undefined, t0);
    const b = computeNodeStatus(inputs(), a, t0 + 10_000);
    const readyB = b.conditions?.find((c) => c.type === 'Ready');
    assert.equal(readyB?.lastTransitionTime, '2026-12-02T00:00:00Z');
    assert.equal(readyB?.lastHeartbeatTime, '2026-12-02T00:00:10Z');
    assert.equal(nodeStatusChanged(a, b), false, 'only heartbeats moved');
    const c = computeNodeStatus(
      inputs({
        runtimeReady: false,
        runtimeMessage: 'container runtime is down',
        pleg: { ok: false, message: 'PLEG is not healthy: pleg was last seen active 3m10s ago; threshold is 3m0s' },
      }),
      b,
      t0 + 20_000,
    );
    const readyC = c.conditions?.find((x) => x.type === 'Ready');
    assert.equal(readyC?.status, 'False');
    assert.equal(readyC?.reason, 'KubeletNotReady');
    assert.match(readyC?.message ?? '', /^container runtime is down, PLEG is not healthy: pleg was last seen active/);
    assert.equal(readyC?.lastTransitionTime, '2026-12-02T00:00:20Z');
    assert.equal(nodeStatusChanged(b, c), true);
  });

  it('refuses kubernetes.io labels a kubelet may not set, as upstream', () => {
    assert.deepEqual(
      forbiddenNodeLabels({
        'node.kubernetes.io/pool': 'a',
        'kubernetes.io/hostname': 'x',
        'topology.kubernetes.io/zone': 'z',
        'example.com/team': 'b',
        plain: 'c',
      }),
      [],
    );
    assert.deepEqual(forbiddenNodeLabels({ 'node-role.kubernetes.io/master': '', 'kubernetes.io/role': 'x', 'foo.k8s.io/bar': 'y' }), [
      'node-role.kubernetes.io/master',
      'kubernetes.io/role',
      'foo.k8s.io/bar',
    ]);
  });
});
