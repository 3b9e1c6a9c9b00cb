// Usage figures of a cgroup, cgroup v2 or v1, read from its files the way cAdvisor and upstream's
// summary read them: memory usage and working set (usage minus inactive file pages, never below
// zero), RSS and page faults, CPU time, PIDs, and the memory events (OOM kills, limit hits).
//
// Paths are hierarchy paths ('/kubepods/burstable/pod<uid>', '/' for the root). On a hybrid host
// the v1 controllers are read (they are the ones that count there, as for cAdvisor). Every read
// returns a Reading: a missing or unreadable file is a value the caller can show as unknown.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupDir, cgroupV1Mounts, type CgroupMount } from '../cgroups.js';
import { keyedNumbers, reading, type Reading } from './reading.js';

export type CgroupVersion = 'v1' | 'v2';

export interface CgroupMemory {
  usageBytes: number;
  workingSetBytes: number;
  rssBytes: number;
  pageFaults: number;
  majorPageFaults: number;
  /** The memory limit, undefined when unlimited. */
  limitBytes?: number;
}

export interface CgroupCpu {
  /** Total CPU time used, in nanoseconds. */
  usageCoreNanoSeconds: number;
  userNanoSeconds: number;
  systemNanoSeconds: number;
}

/** Counts of memory events since the cgroup was made (v2 memory.events; v1 what it has). */
export interface CgroupMemoryEvents {
  /** Times the limit was hit (v2 `max`, v1 memory.failcnt). */
  max: number;
  oom: number;
  oomKill: number;
}

/** v1 cpuacct.stat counts in USER_HZ ticks, 100 per second on Linux. */
const USER_HZ_NS = 10_000_000;
/** A v1 limit this large means "no limit" (PAGE_COUNTER_MAX pages, rounded to the page). */
const V1_UNLIMITED = 2 ** 62;

export class CgroupStats {
  readonly version: CgroupVersion;
  private readonly mounts: CgroupMount[];
  private readonly unified: CgroupMount | undefined;

  constructor(mounts: CgroupMount[] = cgroupV1Mounts()) {
    this.mounts = mounts;
    this.unified = mounts.find((m) => m.controllers.includes('cgroup2'));
    const v1memory = mounts.some((m) => m.controllers.includes('memory'));
    this.version = v1memory || !this.unified ? 'v1' : 'v2';
  }

  /** The directory of `path` for a v1 controller, or the unified directory on v2. */
  dir(controller: string, path: string): string | undefined {
    const m = this.version === 'v2' ? this.unified : this.mounts.find((x) => x.controllers.includes(controller));
    return m ? cgroupDir(m, path) : undefined;
  }

  private read(controller: string, path: string, file: string): string {
    const dir = this.dir(controller, path);
    if (!dir) throw Object.assign(new Error(`no ${controller} hierarchy shows ${path}`), { code: 'ENOENT' });
    return readFileSync(join(dir, file), 'utf8');
  }

  memory(path: string): Reading<CgroupMemory> {
    return reading(`memory of cgroup ${path}`, () => {
      if (this.version === 'v2') {
        const stat = keyedNumbers(this.read('memory', path, 'memory.stat'));
        // The root of a v2 tree has no memory.current; the sum of its parts stands in.
        const usage =
          path === '/' ? (stat.get('anon') ?? 0) + (stat.get('file') ?? 0) + (stat.get('kernel') ?? 0) : numberIn(this.read('memory', path, 'memory.current'));
        const max = path === '/' ? 'max' : this.read('memory', path, 'memory.max').trim();
        const m: CgroupMemory = {
          usageBytes: usage,
          workingSetBytes: Math.max(0, usage - (stat.get('inactive_file') ?? 0)),
          rssBytes: stat.get('anon') ?? 0,
          pageFaults: stat.get('pgfault') ?? 0,
          majorPageFaults: stat.get('pgmajfault') ?? 0,
        };
        if (max !== 'max') m.limitBytes = Number(max);
        return m;
      }
      const usage = numberIn(this.read('memory', path, 'memory.usage_in_bytes'));
      const stat = keyedNumbers(this.read('memory', path, 'memory.stat'));
      const limit = numberIn(this.read('memory', path, 'memory.limit_in_bytes'));
      const m: CgroupMemory = {
        usageBytes: usage,
        workingSetBytes: Math.max(0, usage - (stat.get('total_inactive_file') ?? 0)),
        rssBytes: stat.get('total_rss') ?? 0,
        pageFaults: stat.get('total_pgfault') ?? 0,
        majorPageFaults: stat.get('total_pgmajfault') ?? 0,
      };
      if (limit < V1_UNLIMITED) m.limitBytes = limit;
      return m;
    });
  }

  cpu(path: string): Reading<CgroupCpu> {
    return reading(`cpu of cgroup ${path}`, () => {
      if (this.version === 'v2') {
        const stat = keyedNumbers(this.read('cpu', path, 'cpu.stat'));
        const usage = stat.get('usage_usec');
        if (usage === undefined) throw new Error('cpu.stat has no usage_usec');
        return {
          usageCoreNanoSeconds: usage * 1000,
          userNanoSeconds: (stat.get('user_usec') ?? 0) * 1000,
          systemNanoSeconds: (stat.get('system_usec') ?? 0) * 1000,
        };
      }
      const usage = numberIn(this.read('cpuacct', path, 'cpuacct.usage'));
      const stat = keyedNumbers(this.read('cpuacct', path, 'cpuacct.stat'));
      return { usageCoreNanoSeconds: usage, userNanoSeconds: (stat.get('user') ?? 0) * USER_HZ_NS, systemNanoSeconds: (stat.get('system') ?? 0) * USER_HZ_NS };
    });
  }

  /** Tasks (threads) in the cgroup and below, as pids.current counts them. */
  pids(path: string): Reading<number> {
    return reading(`pids of cgroup ${path}`, () => numberIn(this.read('pids', path, 'pids.current')));
  }

  memoryEvents(path: string): Reading<CgroupMemoryEvents> {
    return reading(`memory events of cgroup ${path}`, () => {
      if (this.version === 'v2') {
        const ev = keyedNumbers(this.read('memory', path, 'memory.events'));
        return { max: ev.get('max') ?? 0, oom: ev.get('oom') ?? 0, oomKill: ev.get('oom_kill') ?? 0 };
      }
      const oom = keyedNumbers(this.read('memory', path, 'memory.oom_control'));
      const failcnt = numberIn(this.read('memory', path, 'memory.failcnt'));
      return { max: failcnt, oom: oom.get('under_oom') ?? 0, oomKill: oom.get('oom_kill') ?? 0 };
    });
  }

  /** The file whose change means a memory event (v2 memory.events, for inotify), if any. */
  memoryEventsFile(path: string): string | undefined {
    if (this.version !== 'v2') return undefined;
    const dir = this.dir('memory', path);
    return dir ? join(dir, 'memory.events') : undefined;
  }
}

function numberIn(text: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new Error(`expected a number, got ${JSON.stringify(t.slice(0, 40))}`);
  return Number(t);
}
