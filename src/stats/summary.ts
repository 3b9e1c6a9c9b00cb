// The kubelet's stats summary (GET /stats/summary, API group stats/v1alpha1, upstream's JSON field
// names) and the resource metrics (GET /metrics/resource, what metrics-server 0.6+ and `kubectl
// top` read), built from one sample of the node and its containers. Pure: the eviction thread
// takes the sample every housekeeping interval (stats/sample.ts) and keeps the previous one, from
// which the CPU rates (usageNanoCores) come.
import type { FsStats } from '../native/stats/node.js';

export interface CpuStats {
  time: string;
  usageNanoCores?: number;
  usageCoreNanoSeconds?: number;
}

export interface MemoryStats {
  time: string;
  availableBytes?: number;
  usageBytes?: number;
  workingSetBytes?: number;
  rssBytes?: number;
  pageFaults?: number;
  majorPageFaults?: number;
}

export interface FsSummary {
  time: string;
  availableBytes?: number;
  capacityBytes?: number;
  usedBytes?: number;
  inodesFree?: number;
  inodes?: number;
  inodesUsed?: number;
}

export interface ContainerSummary {
  name: string;
  startTime: string;
  cpu?: CpuStats;
  memory?: MemoryStats;
  rootfs?: FsSummary;
  logs?: FsSummary;
}

export interface PodSummary {
  podRef: { name: string; namespace: string; uid: string };
  startTime: string;
  containers: ContainerSummary[];
  cpu?: CpuStats;
  memory?: MemoryStats;
  'ephemeral-storage'?: FsSummary;
  process_stats?: { process_count?: number };
}

export interface Summary {
  node: {
    nodeName: string;
    startTime: string;
    cpu?: CpuStats;
    memory?: MemoryStats;
    fs?: FsSummary;
    runtime?: { imageFs?: FsSummary };
    rlimit?: { time: string; maxpid?: number; curproc?: number };
  };
  pods: PodSummary[];
}

/** One container as sampled. */
export interface ContainerSample {
  id: string;
  name: string;
  podUid: string;
  podName: string;
  podNamespace: string;
  /** Creation time, ms since the epoch (upstream's CRI stats provider reports it as the start). */
  createdAtMs: number;
  cpuNs?: number;
  memoryWorkingSetBytes?: number;
  rootfsBytes?: number;
  rootfsInodes?: number;
  logsBytes?: number;
  logsInodes?: number;
}

export interface PodSample {
  uid: string;
  name: string;
  namespace: string;
  createdAtMs: number;
  /** Its emptyDir volumes on the node filesystem. */
  volumesBytes?: number;
  volumesInodes?: number;
}

/** The node's own figures as read: what the eviction signals come from, and the summary's node section. */
export interface NodeReadings {
  memory?: {
    capacityBytes: number;
    availableBytes: number;
    workingSetBytes: number;
    usageBytes?: number;
    rssBytes?: number;
    pageFaults?: number;
    majorPageFaults?: number;
  };
  nodefs?: FsStats;
  imagefs?: FsStats;
  pids?: { max: number; running: number };
}

/** Everything one summary is built from. */
export interface StatsSample extends NodeReadings {
  at: number;
  nodeName: string;
  /** When the node booted, ms since the epoch. */
  bootMs: number;
  nodeCpuNs?: number;
  pods: PodSample[];
  containers: ContainerSample[];
  /** Why the container figures are missing or partial (resource metrics report scrape_error 1). */
  containerError?: string;
}

// Start times repeat every round for every container: their text is kept (bounded).
const isoCache = new Map<number, string>();
function iso(ms: number): string {
  let t = isoCache.get(ms);
  if (t === undefined) {
    t = new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (isoCache.size >= 50_000) isoCache.clear();
    isoCache.set(ms, t);
  }
  return t;
}

function fsSummary(time: string, fs: FsStats): FsSummary {
  return {
    time,
    availableBytes: fs.availableBytes,
    capacityBytes: fs.capacityBytes,
    usedBytes: fs.usedBytes,
    inodesFree: fs.inodesFree,
    inodes: fs.inodes,
    inodesUsed: fs.inodesUsed,
  };
}

/** usageNanoCores from two cumulative CPU readings (undefined without a usable earlier one). */
function rate(now: number | undefined, before: number | undefined, dtMs: number): number | undefined {
  if (now === undefined || before === undefined || dtMs <= 0 || now < before) return undefined;
  return Math.round(((now - before) / (dtMs * 1e6)) * 1e9);
}

export function buildSummary(s: StatsSample, prev?: StatsSample): Summary {
  const time = iso(s.at);
  const dt = prev ? s.at - prev.at : 0;
  const node: Summary['node'] = { nodeName: s.nodeName, startTime: iso(s.bootMs) };
  if (s.nodeCpuNs !== undefined) {
    node.cpu = { time, usageCoreNanoSeconds: s.nodeCpuNs };
    const r = rate(s.nodeCpuNs, prev?.nodeCpuNs, dt);
    if (r !== undefined) node.cpu.usageNanoCores = r;
  }
  if (s.memory) {
    const m = s.memory;
    node.memory = { time, availableBytes: m.availableBytes, usageBytes: m.usageBytes ?? m.workingSetBytes, workingSetBytes: m.workingSetBytes };
    if (m.rssBytes !== undefined) node.memory.rssBytes = m.rssBytes;
    if (m.pageFaults !== undefined) node.memory.pageFaults = m.pageFaults;
    if (m.majorPageFaults !== undefined) node.memory.majorPageFaults = m.majorPageFaults;
  }
  if (s.nodefs) node.fs = fsSummary(time, s.nodefs);
  if (s.imagefs) node.runtime = { imageFs: fsSummary(time, s.imagefs) };
  if (s.pids) node.rlimit = { time, maxpid: s.pids.max, curproc: s.pids.running };

  const before = new Map((prev?.containers ?? []).map((c) => [c.id, c]));
  const byPod = new Map<string, ContainerSample[]>();
  for (const c of s.containers) {
    const list = byPod.get(c.podUid) ?? [];
    list.push(c);
    byPod.set(c.podUid, list);
  }
  const pods: PodSummary[] = [];
  for (const p of s.pods) {
    const containers: ContainerSummary[] = [];
    let cpuNs: number | undefined;
    let cpuNano: number | undefined;
    let ws: number | undefined;
    let ephemeral = 0;
    let ephemeralInodes = 0;
    let anyFs = false;
    for (const c of byPod.get(p.uid) ?? []) {
      const cs: ContainerSummary = { name: c.name, startTime: iso(c.createdAtMs) };
      if (c.cpuNs !== undefined) {
        cs.cpu = { time, usageCoreNanoSeconds: c.cpuNs };
        const r = rate(c.cpuNs, before.get(c.id)?.cpuNs, dt);
        if (r !== undefined) {
          cs.cpu.usageNanoCores = r;
          cpuNano = (cpuNano ?? 0) + r;
        }
        cpuNs = (cpuNs ?? 0) + c.cpuNs;
      }
      if (c.memoryWorkingSetBytes !== undefined) {
        cs.memory = { time, workingSetBytes: c.memoryWorkingSetBytes };
        ws = (ws ?? 0) + c.memoryWorkingSetBytes;
      }
      const imageCap = s.imagefs ?? s.nodefs;
      if (c.rootfsBytes !== undefined) {
        cs.rootfs = { time, usedBytes: c.rootfsBytes, ...(c.rootfsInodes !== undefined ? { inodesUsed: c.rootfsInodes } : {}) };
        if (imageCap)
          Object.assign(cs.rootfs, {
            availableBytes: imageCap.availableBytes,
            capacityBytes: imageCap.capacityBytes,
            inodesFree: imageCap.inodesFree,
            inodes: imageCap.inodes,
          });
        ephemeral += c.rootfsBytes;
        ephemeralInodes += c.rootfsInodes ?? 0;
        anyFs = true;
      }
      if (c.logsBytes !== undefined) {
        cs.logs = { time, usedBytes: c.logsBytes, ...(c.logsInodes !== undefined ? { inodesUsed: c.logsInodes } : {}) };
        if (s.nodefs)
          Object.assign(cs.logs, {
            availableBytes: s.nodefs.availableBytes,
            capacityBytes: s.nodefs.capacityBytes,
            inodesFree: s.nodefs.inodesFree,
            inodes: s.nodefs.inodes,
          });
        ephemeral += c.logsBytes;
        ephemeralInodes += c.logsInodes ?? 0;
        anyFs = true;
      }
      containers.push(cs);
    }
    if (p.volumesBytes !== undefined) {
      ephemeral += p.volumesBytes;
      ephemeralInodes += p.volumesInodes ?? 0;
      anyFs = true;
    }
    const ps: PodSummary = { podRef: { name: p.name, namespace: p.namespace, uid: p.uid }, startTime: iso(p.createdAtMs), containers };
    if (cpuNs !== undefined) ps.cpu = { time, usageCoreNanoSeconds: cpuNs, ...(cpuNano !== undefined ? { usageNanoCores: cpuNano } : {}) };
    if (ws !== undefined) ps.memory = { time, workingSetBytes: ws };
    if (anyFs) {
      ps['ephemeral-storage'] = { time, usedBytes: ephemeral, inodesUsed: ephemeralInodes };
      if (s.nodefs)
        Object.assign(ps['ephemeral-storage'], {
          availableBytes: s.nodefs.availableBytes,
          capacityBytes: s.nodefs.capacityBytes,
          inodesFree: s.nodefs.inodesFree,
          inodes: s.nodefs.inodes,
        });
    }
    pods.push(ps);
  }
  return { node, pods };
}

/** `?only_cpu_and_memory=true`: node and pods with their cpu and memory only (upstream). */
export function cpuAndMemoryOnly(s: Summary): Summary {
  const node: Summary['node'] = { nodeName: s.node.nodeName, startTime: s.node.startTime };
  if (s.node.cpu) node.cpu = s.node.cpu;
  if (s.node.memory) node.memory = s.node.memory;
  return {
    node,
    pods: s.pods.map((p) => {
      const out: PodSummary = {
        podRef: p.podRef,
        startTime: p.startTime,
        containers: p.containers.map((c) => ({
          name: c.name,
          startTime: c.startTime,
          ...(c.cpu ? { cpu: c.cpu } : {}),
          ...(c.memory ? { memory: c.memory } : {}),
        })),
      };
      if (p.cpu) out.cpu = p.cpu;
      if (p.memory) out.memory = p.memory;
      return out;
    }),
  };
}

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/**
 * The /metrics/resource text (Prometheus exposition, each sample with its time in ms, as
 * upstream's resource metrics collector writes it).
 */
export function resourceMetricsText(s: Summary, scrapeError: boolean): string {
  const out: string[] = [];
  const family = (name: string, help: string, type: 'counter' | 'gauge', samples: [labels: string, value: number, time: string][]): void => {
    out.push(`# HELP ${name} [ALPHA] ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value, time] of samples) out.push(`${name}${labels} ${value} ${Date.parse(time)}`);
  };
  const podLabels = (p: PodSummary): string => `namespace="${label(p.podRef.namespace)}",pod="${label(p.podRef.name)}"`;
  const containers = s.pods.flatMap((p) => p.containers.map((c) => ({ p, c })));
  family(
    'container_cpu_usage_seconds_total',
    'Cumulative cpu time consumed by the container in core-seconds',
    'counter',
    containers.flatMap(({ p, c }) =>
      c.cpu?.usageCoreNanoSeconds !== undefined
        ? [[`{container="${label(c.name)}",${podLabels(p)}}`, c.cpu.usageCoreNanoSeconds / 1e9, c.cpu.time] as [string, number, string]]
        : [],
    ),
  );
  family(
    'container_memory_working_set_bytes',
    'Current working set of the container in bytes',
    'gauge',
    containers.flatMap(({ p, c }) =>
      c.memory?.workingSetBytes !== undefined
        ? [[`{container="${label(c.name)}",${podLabels(p)}}`, c.memory.workingSetBytes, c.memory.time] as [string, number, string]]
        : [],
    ),
  );
  family(
    'container_start_time_seconds',
    'Start time of the container since unix epoch in seconds',
    'gauge',
    containers.flatMap(({ p, c }) =>
      c.cpu ? [[`{container="${label(c.name)}",${podLabels(p)}}`, Date.parse(c.startTime) / 1000, c.cpu.time] as [string, number, string]] : [],
    ),
  );
  const nodeSamples = (v: number | undefined, time: string | undefined): [string, number, string][] => (v !== undefined && time ? [['', v, time]] : []);
  family(
    'node_cpu_usage_seconds_total',
    'Cumulative cpu time consumed by the node in core-seconds',
    'counter',
    nodeSamples(s.node.cpu?.usageCoreNanoSeconds !== undefined ? s.node.cpu.usageCoreNanoSeconds / 1e9 : undefined, s.node.cpu?.time),
  );
  family(
    'node_memory_working_set_bytes',
    'Current working set of the node in bytes',
    'gauge',
    nodeSamples(s.node.memory?.workingSetBytes, s.node.memory?.time),
  );
  family(
    'pod_cpu_usage_seconds_total',
    'Cumulative cpu time consumed by the pod in core-seconds',
    'counter',
    s.pods.flatMap((p) =>
      p.cpu?.usageCoreNanoSeconds !== undefined ? [[`{${podLabels(p)}}`, p.cpu.usageCoreNanoSeconds / 1e9, p.cpu.time] as [string, number, string]] : [],
    ),
  );
  family(
    'pod_memory_working_set_bytes',
    'Current working set of the pod in bytes',
    'gauge',
    s.pods.flatMap((p) =>
      p.memory?.workingSetBytes !== undefined ? [[`{${podLabels(p)}}`, p.memory.workingSetBytes, p.memory.time] as [string, number, string]] : [],
    ),
  );
  out.push(
    '# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise',
    '# TYPE scrape_error gauge',
    `scrape_error ${scrapeError ? 1 : 0}`,
  );
  return `${out.join('\n')}\n`;
}
