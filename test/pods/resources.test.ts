// Requests and limits to CRI resources, QoS classes, oom_score_adj and the pod cgroup, as
// upstream's kubelet (v1.20.2) computes them: table tests with the expected values written out.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Container, Pod } from '../../src/api/core-v1.js';
import { containerOomScoreAdj, containerResources, podCgroupConfig, podCgroupParent, podQosClass, podRequestsAndLimits } from '../../src/pods/resources.js';
import { containerConfigFor, sandboxConfigFor } from '../../src/pods/cri-config.js';
import { qosClass } from '../../src/pods/status.js';

const GiB = 2 ** 30;
const MACHINE = 16 * GiB;

function podOf(
  containers: Partial<Container>[],
  extra: { init?: Partial<Container>[]; overhead?: Record<string, string>; annotations?: Record<string, string> } = {},
): Pod {
  const spec: Pod['spec'] = { containers: containers.map((c, i) => ({ name: `c${i}`, image: 'busybox', ...c })) };
  if (extra.init) spec.initContainers = extra.init.map((c, i) => ({ name: `i${i}`, image: 'busybox', ...c }));
  if (extra.overhead) spec['overhead'] = extra.overhead;
  return { metadata: { name: 'p', namespace: 'ns', uid: 'uid-1', ...(extra.annotations ? { annotations: extra.annotations } : {}) }, spec };
}

describe('QoS class (upstream GetPodQOS)', () => {
  const cases: [string, Partial<Container>[], 'Guaranteed' | 'Burstable' | 'BestEffort'][] = [
    ['no resources', [{}], 'BestEffort'],
    ['zero requests only', [{ resources: { requests: { cpu: '0', memory: '0' } } }], 'BestEffort'],
    ['limits only (requests default to them)', [{ resources: { limits: { cpu: '1', memory: '1Gi' } } }], 'Guaranteed'],
    ['equal in other units', [{ resources: { requests: { cpu: '1000m', memory: '1024Mi' }, limits: { cpu: '1', memory: '1Gi' } } }], 'Guaranteed'],
    ['request below limit', [{ resources: { requests: { cpu: '500m' }, limits: { cpu: '1', memory: '1Gi' } } }], 'Burstable'],
    ['cpu limit only', [{ resources: { limits: { cpu: '1' } } }], 'Burstable'],
    ['only extended resources', [{ resources: { limits: { 'example.com/gpu': '1' } } }], 'BestEffort'],
    ['one container without limits', [{ resources: { limits: { cpu: '1', memory: '1Gi' } } }, {}], 'Burstable'],
    [
      'ephemeral-storage does not count',
      [{ resources: { limits: { cpu: '1', memory: '1Gi', 'ephemeral-storage': '1Gi' }, requests: { 'ephemeral-storage': '1Mi' } } }],
      'Guaranteed',
    ],
  ];
  for (const [name, cs, want] of cases) {
    it(name, () => {
      assert.equal(podQosClass(podOf(cs)), want);
      assert.equal(qosClass(podOf(cs)), want);
    });
  }
});

describe('container resources (upstream generateLinuxContainerConfig)', () => {
  const cases: [string, Partial<Container>, { cpuShares: number; cpuQuota: number; memoryLimitInBytes: number; oomScoreAdj: number }][] = [
    ['best effort', {}, { cpuShares: 2, cpuQuota: 0, memoryLimitInBytes: 0, oomScoreAdj: 1000 }],
    [
      'guaranteed 1 cpu 1Gi',
      { resources: { limits: { cpu: '1', memory: '1Gi' } } },
      { cpuShares: 1024, cpuQuota: 100000, memoryLimitInBytes: GiB, oomScoreAdj: -997 },
    ],
    ['cpu request 250m', { resources: { requests: { cpu: '250m' } } }, { cpuShares: 256, cpuQuota: 0, memoryLimitInBytes: 0, oomScoreAdj: 999 }],
    [
      'cpu limit only: shares from the limit',
      { resources: { limits: { cpu: '500m' } } },
      { cpuShares: 512, cpuQuota: 50000, memoryLimitInBytes: 0, oomScoreAdj: 999 },
    ],
    [
      'tiny request: min 2 shares, min 1000 us quota',
      { resources: { requests: { cpu: '1m' }, limits: { cpu: '5m' } } },
      { cpuShares: 2, cpuQuota: 1000, memoryLimitInBytes: 0, oomScoreAdj: 999 },
    ],
    [
      'burstable 4Gi request of 16Gi: 1000 - 250',
      { resources: { requests: { memory: '4Gi' }, limits: { memory: '8Gi' } } },
      { cpuShares: 2, cpuQuota: 0, memoryLimitInBytes: 8 * GiB, oomScoreAdj: 750 },
    ],
    [
      'burstable asking the whole machine: floor 3',
      { resources: { requests: { memory: '16Gi' }, limits: { memory: '17Gi' } } },
      { cpuShares: 2, cpuQuota: 0, memoryLimitInBytes: 17 * GiB, oomScoreAdj: 3 },
    ],
    ['memory limit 32Mi', { resources: { limits: { memory: '32Mi' } } }, { cpuShares: 2, cpuQuota: 0, memoryLimitInBytes: 32 * 2 ** 20, oomScoreAdj: 999 }],
    [
      'decimal memory 100M',
      { resources: { limits: { memory: '100M' }, requests: { memory: '100M' } } },
      { cpuShares: 2, cpuQuota: 0, memoryLimitInBytes: 100_000_000, oomScoreAdj: 995 },
    ],
  ];
  for (const [name, c, want] of cases) {
    it(name, () => {
      const p = podOf([c]);
      assert.deepEqual(containerResources(p, p.spec.containers[0]!, MACHINE), { ...want, cpuPeriod: 100000 });
    });
  }

  it('static pods are critical: -997 whatever their QoS (upstream IsCriticalPod)', () => {
    const p = podOf([{}], { annotations: { 'kubernetes.io/config.source': 'file' } });
    assert.equal(containerOomScoreAdj(p, p.spec.containers[0]!, MACHINE), -997);
    const api = podOf([{}], { annotations: { 'kubernetes.io/config.source': 'api' } });
    assert.equal(containerOomScoreAdj(api, api.spec.containers[0]!, MACHINE), 1000);
  });

  it('reaches the CRI ContainerConfig (oom_score_adj is sent as computed; containerd with restrict_oom_score_adj raises it)', () => {
    const p = podOf([{ resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } } }]);
    const cfg = containerConfigFor(p, p.spec.containers[0]!, { restartCount: 0, machineMemoryBytes: MACHINE });
    assert.deepEqual(cfg.linux?.resources, { cpuShares: 102, cpuPeriod: 100000, cpuQuota: 20000, memoryLimitInBytes: 128 * 2 ** 20, oomScoreAdj: 997 });
  });
});

describe('pod totals and the pod cgroup (upstream PodRequestsAndLimits, ResourceConfigForPod)', () => {
  it('sums app containers, takes init containers as a floor, adds overhead', () => {
    const p = podOf(
      [
        { resources: { requests: { cpu: '100m', memory: '10Mi' }, limits: { cpu: '200m', memory: '20Mi' } } },
        { resources: { requests: { cpu: '300m' }, limits: { cpu: '300m', memory: '30Mi' } } },
      ],
      {
        init: [{ resources: { requests: { cpu: '1', memory: '5Mi' } } }],
        overhead: { cpu: '50m', memory: '1Mi' },
      },
    );
    const t = podRequestsAndLimits(p);
    // cpu: max(100+300, 1000) + 50; memory requests: 10Mi + 30Mi (defaulted from the limit) + 1Mi.
    assert.equal(t.requests.get('cpu'), 1050);
    assert.equal(t.requests.get('memory'), 41 * 2 ** 20);
    assert.equal(t.limits.get('cpu'), 550);
    assert.equal(t.limits.get('memory'), 51 * 2 ** 20);
  });

  const cases: [string, Partial<Container>[], ReturnType<typeof podCgroupConfig>, string][] = [
    [
      'guaranteed',
      [{ resources: { limits: { cpu: '500m', memory: '64Mi' } } }],
      { cpuShares: 512, cpuQuota: 50000, cpuPeriod: 100000, memoryLimitBytes: 64 * 2 ** 20 },
      '/kubepods/poduid-1',
    ],
    [
      'burstable with every limit',
      [{ resources: { requests: { cpu: '100m' }, limits: { cpu: '200m', memory: '32Mi' } } }],
      { cpuShares: 102, cpuQuota: 20000, cpuPeriod: 100000, memoryLimitBytes: 32 * 2 ** 20 },
      '/kubepods/burstable/poduid-1',
    ],
    [
      'burstable, one container without limits',
      [{ resources: { limits: { cpu: '200m', memory: '32Mi' } } }, {}],
      { cpuShares: 204 },
      '/kubepods/burstable/poduid-1',
    ],
    ['best effort', [{}], { cpuShares: 2 }, '/kubepods/besteffort/poduid-1'],
  ];
  for (const [name, cs, want, parent] of cases) {
    it(name, () => {
      const p = podOf(cs);
      assert.deepEqual(podCgroupConfig(p), want);
      assert.equal(podCgroupParent(p, '', true), parent);
      assert.equal(podCgroupParent(p, '/', true), parent);
      assert.equal(sandboxConfigFor(p, { attempt: 0 }).linux?.cgroupParent, parent);
    });
  }

  it('places kubepods under --cgroup-root, and nowhere of its own without --cgroups-per-qos', () => {
    const p = podOf([{}]);
    assert.equal(podCgroupParent(p, '/kts-root', true), '/kts-root/kubepods/besteffort/poduid-1');
    assert.equal(podCgroupParent(p, '/kts-root/', true), '/kts-root/kubepods/besteffort/poduid-1');
    assert.equal(podCgroupParent(p, '', false), '');
    assert.equal(podCgroupParent(p, '/kts-root', false), '/kts-root');
  });
});
