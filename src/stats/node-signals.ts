// The eviction signals of the node, read where they live: on a real node from the kernel (the root
// memory cgroup or /proc/meminfo, statfs of the root dir and of the runtime's image filesystem,
// the PID limit), on the simulated runtime from the figures it reports in its verbose Status
// (sim/node-figures.ts). A source that cannot be read makes its signals unknown with the reason,
// for the eviction logic to leave alone; nothing here throws.
import { statSync } from 'node:fs';
import type { CriClient } from '../native/cri/client.js';
import { CgroupStats } from '../native/stats/cgroup.js';
import { readFs, readNodeMemory, readPidLimit, type FsStats } from '../native/stats/node.js';
import type { Reading } from '../native/stats/reading.js';
import { SIM_NODE_INFO_KEY, type FsFigures, type NodeFigures } from '../sim/node-figures.js';
import type { Signal, SignalObservation } from '../eviction/thresholds.js';
import type { NodeReadings } from './summary.js';

/** The signals of one read, with the node's figures they came from (for the stats summary). */
export interface NodeSignals extends NodeReadings {
  signals: Partial<Record<Signal, SignalObservation>>;
  unknown: Partial<Record<Signal, string>>;
  /** The image filesystem is not the node filesystem. */
  imageFsDedicated: boolean;
}

function fsSignals(out: NodeSignals, prefix: 'nodefs' | 'imagefs', fs: Reading<FsStats>): void {
  if (!fs.ok) {
    out.unknown[`${prefix}.available`] = fs.error;
    out.unknown[`${prefix}.inodesFree`] = fs.error;
    return;
  }
  out[prefix] = fs.value;
  out.signals[`${prefix}.available`] = { available: fs.value.availableBytes, capacity: fs.value.capacityBytes };
  out.signals[`${prefix}.inodesFree`] = { available: fs.value.inodesFree, capacity: fs.value.inodes };
}

/** The mountpoint of the runtime's image filesystem (CRI ImageFsInfo), or why there is none. */
export async function imageFsMountpoint(cri: CriClient): Promise<Reading<string>> {
  try {
    const r = await cri.ImageFsInfo({}, { timeoutMs: 5000 });
    const m = r.imageFilesystems[0]?.fsId?.mountpoint;
    return m ? { ok: true, value: m } : { ok: false, error: 'ImageFsInfo named no image filesystem' };
  } catch (err) {
    return { ok: false, error: `ImageFsInfo: ${(err as Error).message}` };
  }
}

function device(path: string): number | undefined {
  try {
    return statSync(path).dev;
  } catch {
    return undefined;
  }
}

/** Reads a real node's signals: the kernel's figures, nodefs at `rootDir`, imagefs at the runtime's mountpoint. */
export class HostSignals {
  readonly cgroups = new CgroupStats();

  constructor(
    private readonly rootDir: string,
    private readonly imageFs: () => Promise<Reading<string>>,
  ) {}

  /** Memory alone: two small files, cheap enough to read every half second between rounds. */
  readMemory(): NodeSignals {
    const out: NodeSignals = { signals: {}, unknown: {}, imageFsDedicated: false };
    const mem = readNodeMemory(this.cgroups);
    if (mem.ok) {
      out.signals['memory.available'] = { available: mem.value.availableBytes, capacity: mem.value.capacityBytes };
      const m = mem.value;
      out.memory = { capacityBytes: m.capacityBytes, availableBytes: m.availableBytes, workingSetBytes: m.workingSetBytes, usageBytes: m.usageBytes };
      if (m.rssBytes !== undefined) out.memory.rssBytes = m.rssBytes;
      if (m.pageFaults !== undefined) out.memory.pageFaults = m.pageFaults;
      if (m.majorPageFaults !== undefined) out.memory.majorPageFaults = m.majorPageFaults;
    } else out.unknown['memory.available'] = mem.error;
    return out;
  }

  async read(): Promise<NodeSignals> {
    const out = this.readMemory();
    fsSignals(out, 'nodefs', readFs(this.rootDir));
    const mount = await this.imageFs();
    if (mount.ok) {
      const rootDev = device(this.rootDir);
      const imageDev = device(mount.value);
      out.imageFsDedicated = rootDev !== undefined && imageDev !== undefined && rootDev !== imageDev;
      fsSignals(out, 'imagefs', readFs(mount.value));
    } else fsSignals(out, 'imagefs', mount);
    const pids = readPidLimit();
    if (pids.ok) {
      out.signals['pid.available'] = { available: Math.max(0, pids.value.maxPid - pids.value.runningProcesses), capacity: pids.value.maxPid };
      out.pids = { max: pids.value.maxPid, running: pids.value.runningProcesses };
    } else out.unknown['pid.available'] = pids.error;
    return out;
  }
}

function fsOf(f: FsFigures): FsStats {
  return {
    capacityBytes: f.capacityBytes,
    availableBytes: f.availableBytes,
    usedBytes: Math.max(0, f.capacityBytes - f.availableBytes),
    inodes: f.inodes,
    inodesFree: f.inodesFree,
    inodesUsed: Math.max(0, f.inodes - f.inodesFree),
  };
}

/** Signals from figures the simulated runtime reports (or every signal unknown, with why). */
export function simSignals(figures: Reading<NodeFigures>): NodeSignals {
  const out: NodeSignals = { signals: {}, unknown: {}, imageFsDedicated: false };
  if (!figures.ok) {
    for (const s of ['memory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'pid.available'] as const)
      out.unknown[s] = figures.error;
    return out;
  }
  const f = figures.value;
  out.signals['memory.available'] = { available: f.memory.availableBytes, capacity: f.memory.capacityBytes };
  out.memory = {
    capacityBytes: f.memory.capacityBytes,
    availableBytes: f.memory.availableBytes,
    workingSetBytes: Math.max(0, f.memory.capacityBytes - f.memory.availableBytes),
  };
  fsSignals(out, 'nodefs', { ok: true, value: fsOf(f.nodefs) });
  fsSignals(out, 'imagefs', { ok: true, value: fsOf(f.imagefs) });
  // One filesystem unless the simulation gives the image filesystem figures of its own.
  out.imageFsDedicated = JSON.stringify(f.nodefs) !== JSON.stringify(f.imagefs);
  out.signals['pid.available'] = { available: Math.max(0, f.pids.max - f.pids.running), capacity: f.pids.max };
  out.pids = { max: f.pids.max, running: f.pids.running };
  return out;
}

/** The simulated runtime's node figures, from its verbose Status. */
export async function readSimFigures(cri: CriClient): Promise<Reading<NodeFigures>> {
  try {
    const st = await cri.Status({ verbose: true }, { timeoutMs: 5000 });
    const text = st.info[SIM_NODE_INFO_KEY];
    if (!text) return { ok: false, error: `the runtime's Status has no ${SIM_NODE_INFO_KEY}` };
    return { ok: true, value: JSON.parse(text) as NodeFigures };
  } catch (err) {
    return { ok: false, error: `Status: ${(err as Error).message}` };
  }
}

/** Capacity and available bytes of the image filesystem (for image GC), where the signals come from. */
export async function imageFsUsage(cri: CriClient, simNode: boolean): Promise<Reading<{ capacityBytes: number; availableBytes: number }>> {
  if (simNode) {
    const f = await readSimFigures(cri);
    return f.ok ? { ok: true, value: { capacityBytes: f.value.imagefs.capacityBytes, availableBytes: f.value.imagefs.availableBytes } } : f;
  }
  const mount = await imageFsMountpoint(cri);
  if (!mount.ok) return mount;
  const fs = readFs(mount.value);
  return fs.ok ? { ok: true, value: { capacityBytes: fs.value.capacityBytes, availableBytes: fs.value.availableBytes } } : fs;
}
