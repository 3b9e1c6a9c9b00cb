// The stats readers: cgroup v1 and v2 files laid out in a folder (the formats the kernel writes),
// the host's own /proc and /sys as this machine has them, and unreadable sources as values.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupV1Mounts } from '../../src/native/cgroups.js';
import { CgroupStats } from '../../src/native/stats/cgroup.js';
import { readFs, readLoadavg, readMeminfo, readNodeMemory, readPidLimit } from '../../src/native/stats/node.js';

function files(dir: string, contents: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(contents)) writeFileSync(join(dir, name), text);
}

describe('stats readers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kts-stats-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('cgroup v2: memory working set, cpu, pids and memory events', () => {
    const root = join(dir, 'v2');
    const pod = join(root, 'kubepods/burstable/pod1');
    files(pod, {
      'memory.current': '104857600\n',
      'memory.max': '209715200\n',
      'memory.stat': 'anon 52428800\nfile 52428800\ninactive_file 31457280\npgfault 1200\npgmajfault 7\n',
      'cpu.stat': 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 0\n',
      'pids.current': '12\n',
      'memory.events': 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n',
    });
    const stats = new CgroupStats([{ controllers: ['cgroup2'], mountPoint: root, root: '/' }]);
    assert.equal(stats.version, 'v2');
    assert.deepEqual(stats.memory('/kubepods/burstable/pod1'), {
      ok: true,
      value: { usageBytes: 104857600, workingSetBytes: 104857600 - 31457280, rssBytes: 52428800, pageFaults: 1200, majorPageFaults: 7, limitBytes: 209715200 },
    });
    assert.deepEqual(stats.cpu('/kubepods/burstable/pod1'), {
      ok: true,
      value: { usageCoreNanoSeconds: 2.5e9, userNanoSeconds: 2e9, systemNanoSeconds: 5e8 },
    });
    assert.deepEqual(stats.pids('/kubepods/burstable/pod1'), { ok: true, value: 12 });
    assert.deepEqual(stats.memoryEvents('/kubepods/burstable/pod1'), { ok: true, value: { max: 3, oom: 1, oomKill: 1 } });
    assert.equal(stats.memoryEventsFile('/kubepods/burstable/pod1'), join(pod, 'memory.events'));
    writeFileSync(join(pod, 'memory.max'), 'max\n');
    const m = stats.memory('/kubepods/burstable/pod1');
    assert.ok(m.ok && m.value.limitBytes === undefined);
  });

  it('cgroup v1: the total_ counters of memory.stat, cpuacct in ticks, an unlimited limit', () => {
    const root = join(dir, 'v1');
    files(join(root, 'memory/kubepods/podA'), {
      'memory.usage_in_bytes': '50000000\n',
      'memory.limit_in_bytes': '9223372036854771712\n',
      'memory.stat': 'cache 1\nrss 2\ninactive_file 3\ntotal_rss 40000000\ntotal_inactive_file 60000000\ntotal_pgfault 10\ntotal_pgmajfault 2\n',
      'memory.failcnt': '4\n',
      'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
    });
    files(join(root, 'cpuacct/kubepods/podA'), { 'cpuacct.usage': '123456789\n', 'cpuacct.stat': 'user 10\nsystem 2\n' });
    files(join(root, 'pids/kubepods/podA'), { 'pids.current': '3\n' });
    const stats = new CgroupStats([
      { controllers: ['memory'], mountPoint: join(root, 'memory'), root: '/' },
      { controllers: ['cpu', 'cpuacct'], mountPoint: join(root, 'cpuacct'), root: '/' },
      { controllers: ['pids'], mountPoint: join(root, 'pids'), root: '/' },
      { controllers: ['cgroup2'], mountPoint: join(root, 'unified'), root: '/' },
    ]);
    assert.equal(stats.version, 'v1', 'a hybrid host reads the v1 controllers');
    const m = stats.memory('/kubepods/podA');
    // Inactive file pages above the usage: the working set is zero, never negative.
    assert.deepEqual(m, { ok: true, value: { usageBytes: 50000000, workingSetBytes: 0, rssBytes: 40000000, pageFaults: 10, majorPageFaults: 2 } });
    assert.deepEqual(stats.cpu('/kubepods/podA'), { ok: true, value: { usageCoreNanoSeconds: 123456789, userNanoSeconds: 1e8, systemNanoSeconds: 2e7 } });
    assert.deepEqual(stats.pids('/kubepods/podA'), { ok: true, value: 3 });
    assert.deepEqual(stats.memoryEvents('/kubepods/podA'), { ok: true, value: { max: 4, oom: 0, oomKill: 2 } });
    assert.equal(stats.memoryEventsFile('/kubepods/podA'), undefined);
  });

  it('unreadable sources are values saying what failed, not throws', () => {
    const stats = new CgroupStats([{ controllers: ['cgroup2'], mountPoint: join(dir, 'nothing'), root: '/' }]);
    const m = stats.memory('/kubepods/gone');
    assert.equal(m.ok, false);
    assert.match(!m.ok ? m.error : '', /^memory of cgroup \/kubepods\/gone: ENOENT/);
    assert.equal(stats.cpu('/../../etc').ok, false, 'a path leaving the hierarchy is refused');
    files(join(dir, 'bad'), { meminfo: 'MemTotal: lots\n', loadavg: 'garbage\n' });
    assert.equal(readMeminfo(join(dir, 'bad/meminfo')).ok, false);
    assert.equal(readLoadavg(join(dir, 'bad/loadavg')).ok, false);
    assert.equal(readFs(join(dir, 'no/such/dir')).ok, false);
    assert.equal(readPidLimit(join(dir, 'no'), '/proc/loadavg').ok, false);
    assert.equal(readNodeMemory(undefined, join(dir, 'bad/meminfo')).ok, false);
  });

  it("reads this machine's node figures", () => {
    const info = readMeminfo();
    assert.ok(info.ok, !info.ok ? info.error : '');
    const total = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]) * 1024;
    assert.equal(info.value.totalBytes, total);
    const mem = readNodeMemory(new CgroupStats(cgroupV1Mounts()));
    assert.ok(mem.ok, !mem.ok ? mem.error : '');
    assert.equal(mem.value.capacityBytes, total);
    assert.ok(mem.value.workingSetBytes > 0 && mem.value.workingSetBytes < total, String(mem.value.workingSetBytes));
    assert.equal(mem.value.availableBytes, total - mem.value.workingSetBytes);
    const pids = readPidLimit();
    assert.ok(pids.ok && pids.value.maxPid > 1000 && pids.value.runningProcesses > 1, JSON.stringify(pids));
    const fs = readFs('/');
    assert.ok(fs.ok && fs.value.capacityBytes > 0 && fs.value.availableBytes <= fs.value.capacityBytes && fs.value.inodes >= fs.value.inodesFree);
    const self = new CgroupStats(cgroupV1Mounts());
    const cpu = self.cpu('/');
    assert.ok(cpu.ok && cpu.value.usageCoreNanoSeconds > 0, JSON.stringify(cpu));
  });
});
