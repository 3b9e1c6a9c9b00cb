// Which pod goes first when the node runs short, as upstream's eviction manager ranks them, and
// the message the evicted pod carries. Pure.
//
// Memory: pods using more than they request first, then lower priority, then by how far usage
// is above the request. Disk (bytes): the same with ephemeral-storage usage, where what counts
// as usage depends on the signal: with a dedicated imagefs, nodefs counts logs and local volumes
// and imagefs counts the containers' writable layers; on one filesystem all three. Inodes: the
// same with inode counts and no request. PIDs: lower priority, then more processes.
// A pod with no stats at all ranks first (upstream: it cannot be shown to be innocent).
// Critical pods (static, mirror, system-critical priority) are never chosen.
import type { Pod } from '../api/core-v1.js';
import { effectiveRequests, isCriticalPod, podQosClass, podRequestsAndLimits, value, type QosClass } from '../pods/resources.js';
import { SIGNAL_RESOURCE, type Signal, type StarvedResource } from './thresholds.js';

export interface ContainerUsage {
  name: string;
  memoryWorkingSetBytes?: number;
  rootfsBytes?: number;
  rootfsInodes?: number;
  logsBytes?: number;
  logsInodes?: number;
}

export interface PodUsage {
  memoryWorkingSetBytes?: number;
  /** Bytes and inodes of the pod's local volumes (emptyDir and the like) on nodefs. */
  volumesBytes?: number;
  volumesInodes?: number;
  processes?: number;
  containers: ContainerUsage[];
}

export interface EvictionCandidate {
  uid: string;
  namespace: string;
  name: string;
  priority: number;
  qos: QosClass;
  /** Static, mirror or system-critical: never evicted. */
  critical: boolean;
  terminationGracePeriodSeconds: number;
  /** Requests of the pod (memory and ephemeral-storage bytes). */
  requests: { memory: number; 'ephemeral-storage': number };
  /** Per container: its requests as written in the spec ("" when none), for the message. */
  containers: { name: string; memoryRequest: number; memoryRequestText: string; storageRequest: number; storageRequestText: string }[];
  /** Undefined when the stats provider has nothing for the pod. */
  usage?: PodUsage;
}

/** A pod as the ranking sees it, with its usage when the stats provider has it. */
export function candidateOf(pod: Pod, usage?: PodUsage): EvictionCandidate {
  const requests = podRequestsAndLimits(pod).requests;
  const c: EvictionCandidate = {
    uid: pod.metadata.uid ?? '',
    namespace: pod.metadata.namespace ?? 'default',
    name: pod.metadata.name ?? '',
    priority: pod.spec.priority ?? 0,
    qos: podQosClass(pod),
    critical: isCriticalPod(pod),
    terminationGracePeriodSeconds: pod.spec.terminationGracePeriodSeconds ?? 30,
    requests: { memory: requests.get('memory') ?? 0, 'ephemeral-storage': requests.get('ephemeral-storage') ?? 0 },
    containers: pod.spec.containers.map((ct) => {
      const r = effectiveRequests(ct);
      const mem = r['memory'];
      const storage = r['ephemeral-storage'];
      return {
        name: ct.name,
        memoryRequest: value(mem),
        memoryRequestText: mem === undefined ? '' : String(mem),
        storageRequest: value(storage),
        storageRequestText: storage === undefined ? '' : String(storage),
      };
    }),
  };
  if (usage) c.usage = usage;
  return c;
}

const sum = (xs: (number | undefined)[]): number => xs.reduce<number>((a, x) => a + (x ?? 0), 0);

/** What the pod uses of the resource a signal starves, or undefined without stats. */
export function podUsageFor(c: EvictionCandidate, signal: Signal, imageFsDedicated: boolean): number | undefined {
  const u = c.usage;
  if (!u) return undefined;
  const inodes = SIGNAL_RESOURCE[signal] === 'inodes';
  const rootfs = sum(u.containers.map((x) => (inodes ? x.rootfsInodes : x.rootfsBytes)));
  const logs = sum(u.containers.map((x) => (inodes ? x.logsInodes : x.logsBytes)));
  const volumes = (inodes ? u.volumesInodes : u.volumesBytes) ?? 0;
  switch (signal) {
    case 'memory.available':
      return u.memoryWorkingSetBytes;
    case 'pid.available':
      return u.processes;
    case 'nodefs.available':
    case 'nodefs.inodesFree':
      return imageFsDedicated ? logs + volumes : rootfs + logs + volumes;
    case 'imagefs.available':
    case 'imagefs.inodesFree':
      return imageFsDedicated ? rootfs : rootfs + logs + volumes;
  }
}

function requestFor(c: EvictionCandidate, signal: Signal): number {
  const r = SIGNAL_RESOURCE[signal];
  if (r === 'memory') return c.requests.memory;
  if (r === 'ephemeral-storage') return c.requests['ephemeral-storage'];
  return 0;
}

/** Upstream's cmpBool: the pod for which `a` holds first. */
function firstIf(a: boolean, b: boolean): number {
  if (a === b) return 0;
  return a ? -1 : 1;
}

/** Candidates in the order they would be evicted for `signal` (critical pods included; the caller skips them). */
export function rankForEviction(pods: readonly EvictionCandidate[], signal: Signal, imageFsDedicated: boolean): EvictionCandidate[] {
  const usage = new Map(pods.map((p) => [p.uid, podUsageFor(p, signal, imageFsDedicated)]));
  const byPriority = (a: EvictionCandidate, b: EvictionCandidate): number => a.priority - b.priority;
  const missing = (a: EvictionCandidate, b: EvictionCandidate): number | undefined => {
    const ua = usage.get(a.uid);
    const ub = usage.get(b.uid);
    return ua === undefined || ub === undefined ? firstIf(ua === undefined, ub === undefined) : undefined;
  };
  const exceeds = (a: EvictionCandidate, b: EvictionCandidate): number =>
    missing(a, b) ?? firstIf((usage.get(a.uid) ?? 0) > requestFor(a, signal), (usage.get(b.uid) ?? 0) > requestFor(b, signal));
  const aboveRequest = (a: EvictionCandidate, b: EvictionCandidate): number =>
    missing(a, b) ?? (usage.get(b.uid) ?? 0) - requestFor(b, signal) - ((usage.get(a.uid) ?? 0) - requestFor(a, signal));
  const byUsage = (a: EvictionCandidate, b: EvictionCandidate): number => missing(a, b) ?? (usage.get(b.uid) ?? 0) - (usage.get(a.uid) ?? 0);
  const order = SIGNAL_RESOURCE[signal] === 'pids' ? [byPriority, byUsage] : [exceeds, byPriority, aboveRequest];
  // Array.prototype.sort is stable: pods equal on every key keep their given order.
  return [...pods].sort((a, b) => {
    for (const cmp of order) {
      const d = cmp(a, b);
      if (d !== 0) return d;
    }
    return 0;
  });
}

/** Bytes as Go's resource.Quantity prints a BinarySI value: the largest power of 1024 that divides it. */
export function formatBinarySI(bytes: number): string {
  let v = Math.max(0, Math.round(bytes));
  if (v === 0) return '0';
  const suffixes = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
  let i = 0;
  while (i < suffixes.length - 1 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  return `${v}${suffixes[i]}`;
}

export interface EvictionMessage {
  message: string;
  /** Upstream's event annotations: offending_containers, offending_containers_usage, starved_resource. */
  annotations: Record<string, string>;
}

/** Upstream's eviction message: the starved resource, then each container above its request. */
export function evictionMessage(c: EvictionCandidate, resource: StarvedResource): EvictionMessage {
  let message = `The node was low on resource: ${resource}. `;
  const names: string[] = [];
  const usages: string[] = [];
  for (const spec of c.containers) {
    const u = c.usage?.containers.find((x) => x.name === spec.name);
    if (!u) continue;
    let usage: number | undefined;
    let request = 0;
    let requestText = '0';
    if (resource === 'memory') {
      usage = u.memoryWorkingSetBytes;
      request = spec.memoryRequest;
      requestText = spec.memoryRequestText || '0';
    } else if (resource === 'ephemeral-storage') {
      // Upstream counts a container's writable layer plus its logs, whatever the filesystem.
      usage = u.rootfsBytes !== undefined && u.logsBytes !== undefined ? u.rootfsBytes + u.logsBytes : undefined;
      request = spec.storageRequest;
      requestText = spec.storageRequestText || '0';
    }
    if (usage !== undefined && usage > request) {
      const shown = formatBinarySI(usage);
      message += `Container ${spec.name} was using ${shown}, which exceeds its request of ${requestText}. `;
      names.push(spec.name);
      usages.push(shown);
    }
  }
  return { message, annotations: { offending_containers: names.join(','), offending_containers_usage: usages.join(','), starved_resource: resource } };
}
