// /proc readers for the benchmarks: a process's CPU seconds and RSS, and finding processes by
// their command line (containerd's shims). Linux only, as the kubelet.
import { readdirSync, readFileSync } from 'node:fs';
import { parseProcStat } from '../../src/native/thread-stats.js';

const PAGE = 4096;

export interface ProcSample {
  cpuSeconds: number;
  rssMb: number;
}

/** utime+stime (seconds) and RSS (MB) of one process, or undefined when it is gone. */
export function procSample(pid: number): ProcSample | undefined {
  try {
    const st = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return { cpuSeconds: st.cpuSeconds, rssMb: (st.rssPages * PAGE) / 1024 / 1024 };
  } catch {
    return undefined;
  }
}

/** The sum over several processes (gone ones count nothing). */
export function procSampleAll(pids: readonly number[]): ProcSample {
  let cpuSeconds = 0;
  let rssMb = 0;
  for (const p of pids) {
    const s = procSample(p);
    if (!s) continue;
    cpuSeconds += s.cpuSeconds;
    rssMb += s.rssMb;
  }
  return { cpuSeconds, rssMb };
}

/** PIDs whose command line contains every one of `needles`. */
export function pidsWithCmdline(...needles: string[]): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8');
      if (needles.every((n) => cmd.includes(n))) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
