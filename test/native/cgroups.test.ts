// The QoS cgroup manager's file layout and writes, on a folder standing in for the v1
// hierarchies (the real ones are exercised by test/podspec/resources.containerd.test.ts), and
// the mountinfo parsing.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupV1Mounts, QosCgroupManager } from '../../src/native/cgroups.js';

describe('QoS cgroup manager', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kts-cgroups-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the v1 hierarchies from mountinfo', () => {
    const mi = join(dir, 'mountinfo');
    writeFileSync(
      mi,
      [
        '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
        '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
        '35 31 0:32 /process_api /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
        '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
        '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
      ].join('\n'),
    );
    assert.deepEqual(cgroupV1Mounts(mi), [
      { controllers: ['cpu'], mountPoint: '/sys/fs/cgroup/cpu', root: '/' },
      { controllers: ['memory'], mountPoint: '/sys/fs/cgroup/memory', root: '/process_api' },
      { controllers: ['name=systemd'], mountPoint: '/sys/fs/cgroup/systemd', root: '/' },
      { controllers: ['cgroup2'], mountPoint: '/sys/fs/cgroup/unified', root: '/' },
    ]);
  });

  it('creates the tiers and the pod cgroup with its limits, then removes the pod', () => {
    const mounts = ['cpu', 'cpuacct', 'memory', 'pids'].map((c) => {
      mkdirSync(join(dir, c), { recursive: true });
      return { controllers: [c], mountPoint: join(dir, c), root: '/' };
    });
    const m = new QosCgroupManager({ mounts });
    const errors = m.ensurePod('u1', '/r/kubepods/burstable/podu1', { cpuShares: 102, cpuQuota: 20000, cpuPeriod: 100000, memoryLimitBytes: 33554432 });
    assert.deepEqual(errors, []);
    const read = (c: string, p: string): string => readFileSync(join(dir, c, p), 'utf8');
    assert.equal(read('cpu', 'r/kubepods/besteffort/cpu.shares'), '2');
    assert.equal(read('cpu', 'r/kubepods/burstable/cpu.shares'), '102');
    assert.equal(read('cpu', 'r/kubepods/burstable/podu1/cpu.shares'), '102');
    assert.equal(read('cpu', 'r/kubepods/burstable/podu1/cpu.cfs_quota_us'), '20000');
    assert.equal(read('cpu', 'r/kubepods/burstable/podu1/cpu.cfs_period_us'), '100000');
    assert.equal(read('memory', 'r/kubepods/burstable/podu1/memory.limit_in_bytes'), '33554432');
    assert.ok(existsSync(join(dir, 'pids', 'r/kubepods/burstable/podu1')));
    m.ensurePod('u2', '/r/kubepods/burstable/podu2', { cpuShares: 50 });
    assert.equal(read('cpu', 'r/kubepods/burstable/cpu.shares'), '152');
    assert.equal(read('cpu', 'r/kubepods/burstable/podu2/cpu.cfs_quota_us'), '-1');
    // On the real filesystem a cgroup dir holds only control files the kernel removes with it;
    // here the stand-in files are removed first so rmdir can succeed.
    for (const c of ['cpu', 'memory'])
      for (const f of ['cpu.shares', 'cpu.cfs_quota_us', 'cpu.cfs_period_us', 'memory.limit_in_bytes'])
        rmSync(join(dir, c, 'r/kubepods/burstable/podu1', f), { force: true });
    assert.deepEqual(m.removePod('u1'), []);
    assert.equal(existsSync(join(dir, 'cpu', 'r/kubepods/burstable/podu1')), false);
    assert.equal(read('cpu', 'r/kubepods/burstable/cpu.shares'), '50');
    assert.deepEqual([...m.podPaths().keys()], ['u2']);
  });
});
