// The stats summary from samples: upstream's field names, CPU rates from two samples (none from
// one), pod sums of their containers, ephemeral storage as writable layers plus logs, and the
// resource metrics text (one sample per series with its time; label values escaped).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildSummary, cpuAndMemoryOnly, resourceMetricsText, type StatsSample } from '../../src/stats/summary.js';
import { podUsageOf } from '../../src/stats/pod-usage.js';

const T = Date.parse('2026-12-08T01:00:00Z');

function sample(at: number, cpu: { node: number; a: number; b: number }): StatsSample {
  return {
    at,
    nodeName: 'n1',
    bootMs: T - 3600_000,
    nodeCpuNs: cpu.node,
    memory: { capacityBytes: 1000, availableBytes: 600, workingSetBytes: 400, usageBytes: 500, rssBytes: 300, pageFaults: 7, majorPageFaults: 1 },
    nodefs: { capacityBytes: 10_000, availableBytes: 4000, usedBytes: 6000, inodes: 100, inodesFree: 40, inodesUsed: 60 },
    imagefs: { capacityBytes: 20_000, availableBytes: 9000, usedBytes: 11_000, inodes: 200, inodesFree: 90, inodesUsed: 110 },
    pids: { max: 32768, running: 250 },
    pods: [{ uid: 'u1', name: 'web', namespace: 'shop"s', createdAtMs: T - 60_000 }],
    containers: [
      {
        id: 'a',
        name: 'app',
        podUid: 'u1',
        podName: 'web',
        podNamespace: 'shop"s',
        createdAtMs: T - 59_000,
        cpuNs: cpu.a,
        memoryWorkingSetBytes: 100,
        rootfsBytes: 10,
        rootfsInodes: 2,
        logsBytes: 5,
        logsInodes: 1,
      },
      {
        id: 'b',
        name: 'side',
        podUid: 'u1',
        podName: 'web',
        podNamespace: 'shop"s',
        createdAtMs: T - 58_000,
        cpuNs: cpu.b,
        memoryWorkingSetBytes: 50,
        rootfsBytes: 20,
        logsBytes: 0,
        logsInodes: 0,
      },
    ],
  };
}

describe('stats summary', () => {
  const first = sample(T, { node: 5e9, a: 1e9, b: 0 });
  const second = sample(T + 10_000, { node: 25e9, a: 6e9, b: 1e9 });

  it('names the fields as stats/v1alpha1 and takes CPU rates from the sample before', () => {
    const s = buildSummary(second, first);
    assert.deepEqual(s.node.cpu, { time: '2026-12-08T01:00:10Z', usageCoreNanoSeconds: 25e9, usageNanoCores: 2e9 });
    assert.deepEqual(s.node.memory, {
      time: '2026-12-08T01:00:10Z',
      availableBytes: 600,
      usageBytes: 500,
      workingSetBytes: 400,
      rssBytes: 300,
      pageFaults: 7,
      majorPageFaults: 1,
    });
    assert.deepEqual(s.node.rlimit, { time: '2026-12-08T01:00:10Z', maxpid: 32768, curproc: 250 });
    assert.equal(s.node.runtime?.imageFs?.capacityBytes, 20_000);
    assert.equal(s.node.startTime, '2026-12-08T00:00:00Z');
    const pod = s.pods[0];
    assert.deepEqual(pod?.podRef, { name: 'web', namespace: 'shop"s', uid: 'u1' });
    assert.deepEqual(
      pod?.containers.map((c) => [c.name, c.cpu?.usageNanoCores, c.memory?.workingSetBytes]),
      [
        ['app', 5e8, 100],
        ['side', 1e8, 50],
      ],
    );
    assert.deepEqual(pod?.cpu, { time: '2026-12-08T01:00:10Z', usageCoreNanoSeconds: 7e9, usageNanoCores: 6e8 });
    assert.deepEqual(pod?.memory, { time: '2026-12-08T01:00:10Z', workingSetBytes: 150 });
    assert.equal(pod?.['ephemeral-storage']?.usedBytes, 35);
    assert.equal(pod?.['ephemeral-storage']?.inodesUsed, 3);
    assert.equal(pod?.containers[0]?.rootfs?.capacityBytes, 20_000, 'a writable layer is on the image filesystem');
    assert.equal(pod?.containers[0]?.logs?.capacityBytes, 10_000, 'logs are on the node filesystem');
    assert.equal(buildSummary(first).node.cpu?.usageNanoCores, undefined, 'no rate from a single sample');
    const only = cpuAndMemoryOnly(s);
    assert.equal(only.node.fs, undefined);
    assert.deepEqual(Object.keys(only.pods[0]?.containers[0] ?? {}).sort(), ['cpu', 'memory', 'name', 'startTime']);
  });

  it('writes the resource metrics with times and escaped labels', () => {
    const text = resourceMetricsText(buildSummary(second, first), false);
    const t = T + 10_000;
    assert.match(text, new RegExp(`^container_cpu_usage_seconds_total\\{container="app",namespace="shop\\\\"s",pod="web"\\} 6 ${t}$`, 'm'));
    assert.match(text, new RegExp(`^pod_cpu_usage_seconds_total\\{namespace="shop\\\\"s",pod="web"\\} 7 ${t}$`, 'm'));
    assert.match(text, new RegExp(`^node_cpu_usage_seconds_total 25 ${t}$`, 'm'));
    assert.match(resourceMetricsText({ node: { nodeName: 'n1', startTime: '' }, pods: [] }, true), /^scrape_error 1$/m);
    // Every sample line belongs to the family its HELP and TYPE announced.
    let family = '';
    for (const line of text.trim().split('\n')) {
      const m = /^# TYPE (\S+) (counter|gauge)$/.exec(line);
      if (m) family = m[1] ?? '';
      else if (!line.startsWith('#')) assert.ok(line.startsWith(family), `${line} under ${family}`);
    }
  });

  it("gives the eviction ranking each pod's usage", () => {
    const u = podUsageOf(second).get('u1');
    assert.equal(u?.memoryWorkingSetBytes, 150);
    assert.deepEqual(
      u?.containers.map((c) => [c.name, c.rootfsBytes, c.logsBytes]),
      [
        ['app', 10, 5],
        ['side', 20, 0],
      ],
    );
  });
});
