// The node's own figures for the eviction signals and the summary's node section: memory from
// /proc/meminfo (and the root memory cgroup where one is visible, as cAdvisor reads it), load and
// thread count from /proc/loadavg, filesystems by statfs (bytes and inodes), and the PID limit as
// upstream's pidlimit package reads it (the lower of kernel.pid_max and kernel.threads-max).
// Each reader returns a Reading; file paths are parameters so tests can point them at fixtures.
import { readFileSync, statfsSync } from 'node:fs';
import type { CgroupStats } from './cgroup.js';
import { keyedNumbers, reading, type Reading } from './reading.js';

export interface Meminfo {
  totalBytes: number;
  freeBytes: number;
  availableBytes: number;
  inactiveFileBytes: number;
}

export function readMeminfo(path = '/proc/meminfo'): Reading<Meminfo> {
  return reading(path, () => {
    const kb = keyedNumbers(readFileSync(path, 'utf8'));
    const need = (k: string): number => {
      const v = kb.get(k);
      if (v === undefined) throw new Error(`no ${k} line`);
      return v * 1024;
    };
    return { totalBytes: need('MemTotal'), freeBytes: need('MemFree'), availableBytes: need('MemAvailable'), inactiveFileBytes: need('Inactive(file)') };
  });
}

export interface NodeMemory {
  capacityBytes: number;
  /** What eviction counts as used: usage minus inactive file pages. */
  workingSetBytes: number;
  /** capacity - working set: upstream's memory.available. */
  availableBytes: number;
  usageBytes: number;
  rssBytes?: number;
  pageFaults?: number;
  majorPageFaults?: number;
  source: 'root-cgroup' | 'meminfo';
}

/**
 * The node's memory as the eviction manager sees it. The root memory cgroup when it is readable
 * (cgroup v1 and v2 both account it), else /proc/meminfo: used = total - free, working set =
 * used - Inactive(file), the same subtraction on the kernel's global counters.
 */
export function readNodeMemory(cgroups: CgroupStats | undefined, meminfoPath = '/proc/meminfo'): Reading<NodeMemory> {
  const info = readMeminfo(meminfoPath);
  if (!info.ok) return info;
  const capacity = info.value.totalBytes;
  const root = cgroups?.memory('/');
  if (root?.ok && root.value.usageBytes > 0 && root.value.usageBytes <= capacity) {
    const ws = root.value.workingSetBytes;
    return {
      ok: true,
      value: {
        capacityBytes: capacity,
        workingSetBytes: ws,
        availableBytes: Math.max(0, capacity - ws),
        usageBytes: root.value.usageBytes,
        rssBytes: root.value.rssBytes,
        pageFaults: root.value.pageFaults,
        majorPageFaults: root.value.majorPageFaults,
        source: 'root-cgroup',
      },
    };
  }
  const used = Math.max(0, capacity - info.value.freeBytes);
  const ws = Math.max(0, used - info.value.inactiveFileBytes);
  return { ok: true, value: { capacityBytes: capacity, workingSetBytes: ws, availableBytes: Math.max(0, capacity - ws), usageBytes: used, source: 'meminfo' } };
}

export interface Loadavg {
  load1: number;
  load5: number;
  load15: number;
  runnable: number;
  /** Kernel scheduling entities (threads) on the node: what the PID limit counts. */
  threads: number;
}

export function readLoadavg(path = '/proc/loadavg'): Reading<Loadavg> {
  return reading(path, () => {
    const m = /^([\d.]+) ([\d.]+) ([\d.]+) (\d+)\/(\d+)/.exec(readFileSync(path, 'utf8'));
    if (!m) throw new Error('unexpected format');
    return { load1: Number(m[1]), load5: Number(m[2]), load15: Number(m[3]), runnable: Number(m[4]), threads: Number(m[5]) };
  });
}

export interface PidLimit {
  maxPid: number;
  runningProcesses: number;
}

/** Upstream's rlimit: the lower of pid_max and threads-max, and the threads running now. */
export function readPidLimit(procSys = '/proc/sys/kernel', loadavgPath = '/proc/loadavg'): Reading<PidLimit> {
  const load = readLoadavg(loadavgPath);
  if (!load.ok) return load;
  return reading(`${procSys}/pid_max`, () => {
    const pidMax = Number(readFileSync(`${procSys}/pid_max`, 'utf8').trim());
    let threadsMax = Number.POSITIVE_INFINITY;
    try {
      threadsMax = Number(readFileSync(`${procSys}/threads-max`, 'utf8').trim());
    } catch {
      // threads-max is optional: pid_max alone bounds the count then.
    }
    if (!Number.isFinite(pidMax) || pidMax <= 0) throw new Error('pid_max is not a number');
    return { maxPid: Math.min(pidMax, threadsMax), runningProcesses: load.value.threads };
  });
}

export interface FsStats {
  capacityBytes: number;
  availableBytes: number;
  usedBytes: number;
  inodes: number;
  inodesFree: number;
  inodesUsed: number;
}

/** Bytes and inodes of the filesystem holding `path`; available is what an unprivileged user may use. */
export function readFs(path: string): Reading<FsStats> {
  return reading(`statfs ${path}`, () => {
    const s = statfsSync(path);
    const capacity = s.blocks * s.bsize;
    return {
      capacityBytes: capacity,
      availableBytes: s.bavail * s.bsize,
      usedBytes: (s.blocks - s.bfree) * s.bsize,
      inodes: s.files,
      inodesFree: s.ffree,
      inodesUsed: s.files - s.ffree,
    };
  });
}
