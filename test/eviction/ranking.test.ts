// Upstream's eviction order per signal, the critical-pod rule left to the caller, the message
// and annotations an evicted pod carries, and admission under each pressure.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../src/api/core-v1.js';
import { admitUnderPressure } from '../../src/eviction/admission.js';
import { candidateOf, evictionMessage, formatBinarySI, rankForEviction, type EvictionCandidate, type PodUsage } from '../../src/eviction/ranking.js';

const Mi = 2 ** 20;

function pod(
  name: string,
  opts: {
    priority?: number;
    memReq?: string;
    memLim?: string;
    cpuReq?: string;
    storageReq?: string;
    static?: boolean;
    tolerations?: Pod['spec']['tolerations'];
  } = {},
): Pod {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  if (opts.memReq) requests['memory'] = opts.memReq;
  if (opts.cpuReq) requests['cpu'] = opts.cpuReq;
  if (opts.storageReq) requests['ephemeral-storage'] = opts.storageReq;
  if (opts.memLim) limits['memory'] = opts.memLim;
  const p: Pod = {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, annotations: opts.static ? { 'kubernetes.io/config.source': 'file' } : {} },
    spec: { containers: [{ name: 'app', image: 'busybox', resources: { requests, limits } }] },
  };
  if (opts.priority !== undefined) p.spec.priority = opts.priority;
  if (opts.tolerations) p.spec.tolerations = opts.tolerations;
  return p;
}

function mem(bytes: number): PodUsage {
  return { memoryWorkingSetBytes: bytes, containers: [{ name: 'app', memoryWorkingSetBytes: bytes }] };
}

function disk(rootfs: number, logs: number, volumes: number): PodUsage {
  return { volumesBytes: volumes, containers: [{ name: 'app', rootfsBytes: rootfs, logsBytes: logs }] };
}

const names = (xs: EvictionCandidate[]): string[] => xs.map((x) => x.name);

describe('eviction ranking', () => {
  it('memory: over request first, then lower priority, then usage above request', () => {
    const pods = [
      candidateOf(pod('guaranteed-under', { memReq: '500Mi', memLim: '500Mi', cpuReq: '1' }), mem(100 * Mi)),
      candidateOf(pod('burstable-over', { memReq: '100Mi' }), mem(300 * Mi)),
      candidateOf(pod('besteffort-small'), mem(50 * Mi)),
      candidateOf(pod('besteffort-big'), mem(400 * Mi)),
      candidateOf(pod('besteffort-big-important', { priority: 1000 }), mem(900 * Mi)),
      candidateOf(pod('no-stats')),
    ];
    assert.deepEqual(names(rankForEviction(pods, 'memory.available', false)), [
      'no-stats',
      'besteffort-big',
      'burstable-over',
      'besteffort-small',
      'besteffort-big-important',
      'guaranteed-under',
    ]);
  });

  it('disk: what counts as usage depends on the signal and on a dedicated imagefs', () => {
    const pods = [
      candidateOf(pod('big-rootfs'), disk(900, 10, 0)),
      candidateOf(pod('big-logs'), disk(10, 500, 0)),
      candidateOf(pod('big-volume'), disk(10, 10, 700)),
    ];
    assert.deepEqual(names(rankForEviction(pods, 'nodefs.available', false)), ['big-rootfs', 'big-volume', 'big-logs']);
    assert.deepEqual(names(rankForEviction(pods, 'nodefs.available', true)), ['big-volume', 'big-logs', 'big-rootfs']);
    assert.deepEqual(names(rankForEviction(pods, 'imagefs.available', true)), ['big-rootfs', 'big-logs', 'big-volume']);
    // A request above the usage puts a pod behind the ones that exceed theirs.
    const withRequest = [candidateOf(pod('requested', { storageReq: '1Gi' }), disk(2000, 0, 0)), candidateOf(pod('small'), disk(5, 0, 0))];
    assert.deepEqual(names(rankForEviction(withRequest, 'nodefs.available', false)), ['small', 'requested']);
  });

  it('pids: lower priority first, then more processes', () => {
    const p = (name: string, processes: number, priority = 0): EvictionCandidate => candidateOf(pod(name, { priority }), { processes, containers: [] });
    assert.deepEqual(names(rankForEviction([p('few', 3), p('many', 300), p('many-important', 900, 10)], 'pid.available', false)), [
      'many',
      'few',
      'many-important',
    ]);
  });

  it('marks static and system-critical pods critical', () => {
    assert.equal(candidateOf(pod('static', { static: true })).critical, true);
    assert.equal(candidateOf(pod('node-critical', { priority: 2_000_001_000 })).critical, true);
    assert.equal(candidateOf(pod('cluster-critical', { priority: 2_000_000_000 })).critical, true);
    assert.equal(candidateOf(pod('ordinary', { priority: 1_000_000 })).critical, false);
  });

  it("writes upstream's message and annotations", () => {
    const c = candidateOf(pod('hog', { memReq: '100Mi' }), mem(600 * Mi));
    assert.deepEqual(evictionMessage(c, 'memory'), {
      message: 'The node was low on resource: memory. Container app was using 600Mi, which exceeds its request of 100Mi. ',
      annotations: { offending_containers: 'app', offending_containers_usage: '600Mi', starved_resource: 'memory' },
    });
    const quiet = candidateOf(pod('quiet', { memReq: '1Gi' }), mem(10 * Mi));
    assert.equal(evictionMessage(quiet, 'memory').message, 'The node was low on resource: memory. ');
    const filler = candidateOf(pod('filler'), disk(3 * 2 ** 30, 1024, 0));
    assert.equal(
      evictionMessage(filler, 'ephemeral-storage').message,
      'The node was low on resource: ephemeral-storage. Container app was using 3145729Ki, which exceeds its request of 0. ',
    );
    assert.deepEqual(['0', '1023', '1Ki', '1536', '1536Ki', '600Mi', '2Gi'], [0, 1023, 1024, 1536, 1536 * 1024, 600 * Mi, 2 * 2 ** 30].map(formatBinarySI));
  });
});

describe('admission under pressure', () => {
  const table: [name: string, p: Pod, conditions: ('MemoryPressure' | 'DiskPressure' | 'PIDPressure')[], admit: boolean][] = [
    ['no pressure', pod('a'), [], true],
    ['best effort, memory', pod('a'), ['MemoryPressure'], false],
    ['burstable, memory', pod('a', { memReq: '10Mi' }), ['MemoryPressure'], true],
    [
      'best effort tolerating memory pressure',
      pod('a', { tolerations: [{ key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' }] }),
      ['MemoryPressure'],
      true,
    ],
    ['best effort tolerating everything', pod('a', { tolerations: [{ operator: 'Exists' }] }), ['MemoryPressure'], true],
    ['burstable, disk', pod('a', { memReq: '10Mi' }), ['DiskPressure'], false],
    ['burstable, pids', pod('a', { memReq: '10Mi' }), ['PIDPressure'], false],
    ['burstable, memory and disk', pod('a', { memReq: '10Mi' }), ['MemoryPressure', 'DiskPressure'], false],
    ['static, disk', pod('a', { static: true }), ['DiskPressure'], true],
    ['critical, memory', pod('a', { priority: 2_000_001_000 }), ['MemoryPressure'], true],
  ];
  for (const [name, p, conditions, admit] of table) {
    it(name, () => {
      const r = admitUnderPressure(p, conditions);
      assert.equal(r.admit, admit);
      if (!r.admit) {
        assert.equal(r.reason, 'Evicted');
        assert.equal(r.message, `The node had condition: [${conditions.join(' ')}]. `);
      }
    });
  }
});
