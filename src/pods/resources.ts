// Requests and limits, the way upstream's kubelet reads them: the QoS class of a pod (GetPodQOS),
// the CRI LinuxContainerResources of one container (cpu shares from requests, CFS quota from
// limits, memory limit, oom_score_adj by QoS class), the pod's total requests and limits
// (PodRequestsAndLimits: app containers summed, each init container a floor, overhead added) and
// the pod cgroup's settings (ResourceConfigForPod). Pure: the machine's memory comes in.
//
// Assumes specs as the API server stores them: a request left out but a limit given means the
// request equals the limit (API defaulting does that for API pods, the kubelet for static pods);
// effectiveRequests applies it here so both kinds of pod compute the same.
import type { Container, Pod } from '../api/core-v1.js';
import { parseQuantity } from '../api/quantity.js';
import { component } from '../util/safe-path.js';

/** Where a pod came from (static-pod.ts sets it; kept literal here so pool threads load no YAML parser). */
const ANNOTATION_CONFIG_SOURCE = 'kubernetes.io/config.source';

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/** Upstream kuberuntime constants (helpers_linux.go). */
export const MIN_SHARES = 2;
export const MAX_SHARES = 262144;
export const QUOTA_PERIOD_US = 100_000;
export const MIN_QUOTA_US = 1000;
/** Upstream pkg/kubelet/qos (v1.20.2): Guaranteed and critical pods get -997, BestEffort 1000. */
export const GUARANTEED_OOM_SCORE_ADJ = -997;
export const BESTEFFORT_OOM_SCORE_ADJ = 1000;

type ResourceList = Record<string, string | number>;

/** A quantity in milli-units, rounded up as resource.Quantity.MilliValue; 0 when absent or unreadable. */
export function milliValue(q: string | number | undefined): number {
  if (q === undefined) return 0;
  try {
    return Math.ceil(parseQuantity(q) * 1000 - 1e-6);
  } catch {
    return 0;
  }
}

/** A quantity in base units (bytes for memory), rounded up as resource.Quantity.Value. */
export function value(q: string | number | undefined): number {
  if (q === undefined) return 0;
  try {
    return Math.ceil(parseQuantity(q) - 1e-9);
  } catch {
    return 0;
  }
}

/** Requests with API defaulting applied: a limit without a request is also the request. */
export function effectiveRequests(c: Container): ResourceList {
  return { ...(c.resources?.limits ?? {}), ...(c.resources?.requests ?? {}) };
}

function limitsOf(c: Container): ResourceList {
  return c.resources?.limits ?? {};
}

/** Upstream GetPodQOS: only cpu and memory count; sums per pod; Guaranteed needs both limits on every container. */
export function podQosClass(pod: Pod): QosClass {
  const requests = new Map<string, number>();
  const limits = new Map<string, number>();
  let guaranteed = true;
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
    for (const [name, q] of Object.entries(effectiveRequests(c))) {
      if (name !== 'cpu' && name !== 'memory') continue;
      const v = milliValue(q);
      if (v > 0) requests.set(name, (requests.get(name) ?? 0) + v);
    }
    const found = new Set<string>();
    for (const [name, q] of Object.entries(limitsOf(c))) {
      if (name !== 'cpu' && name !== 'memory') continue;
      const v = milliValue(q);
      if (v > 0) {
        found.add(name);
        limits.set(name, (limits.get(name) ?? 0) + v);
      }
    }
    if (!found.has('cpu') || !found.has('memory')) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (guaranteed) {
    for (const [name, req] of requests) if (limits.get(name) !== req) guaranteed = false;
  }
  return guaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}

/** Upstream IsCriticalPod: static and mirror pods, and pods at system-critical priority. */
export function isCriticalPod(pod: Pod): boolean {
  const source = pod.metadata.annotations?.[ANNOTATION_CONFIG_SOURCE];
  if (source !== undefined && source !== 'api') return true;
  if (pod.metadata.annotations?.['kubernetes.io/config.mirror'] !== undefined) return true;
  return (pod.spec.priority ?? 0) >= 2_000_000_000;
}

/** Upstream GetContainerOOMScoreAdjust. */
export function containerOomScoreAdj(pod: Pod, c: Container, machineMemoryBytes: number): number {
  if (isCriticalPod(pod)) return GUARANTEED_OOM_SCORE_ADJ;
  switch (podQosClass(pod)) {
    case 'Guaranteed':
      return GUARANTEED_OOM_SCORE_ADJ;
    case 'BestEffort':
      return BESTEFFORT_OOM_SCORE_ADJ;
    case 'Burstable':
      break;
  }
  // Burstable: the larger the memory request's share of the machine, the lower the score; kept
  // above Guaranteed and below BestEffort. Integer arithmetic as upstream (int64 division).
  const request = value(effectiveRequests(c)['memory']);
  const adj = machineMemoryBytes > 0 ? 1000 - Math.trunc((1000 * request) / machineMemoryBytes) : 1000;
  if (adj < 1000 + GUARANTEED_OOM_SCORE_ADJ) return 1000 + GUARANTEED_OOM_SCORE_ADJ;
  if (adj === BESTEFFORT_OOM_SCORE_ADJ) return adj - 1;
  return adj;
}

export function milliCpuToShares(milli: number): number {
  if (milli === 0) return MIN_SHARES;
  const shares = Math.trunc((milli * 1024) / 1000);
  return Math.min(MAX_SHARES, Math.max(MIN_SHARES, shares));
}

export function milliCpuToQuota(milli: number, periodUs = QUOTA_PERIOD_US): number {
  if (milli === 0) return 0;
  return Math.max(MIN_QUOTA_US, Math.trunc((milli * periodUs) / 1000));
}

export interface ContainerResources {
  cpuShares: number;
  cpuPeriod: number;
  cpuQuota: number;
  memoryLimitInBytes: number;
  oomScoreAdj: number;
}

/**
 * Upstream generateLinuxContainerConfig's resources (cpu CFS quota on, the default). The
 * oom_score_adj is sent as computed; a runtime that may not lower it (containerd with
 * restrict_oom_score_adj, as on machines that forbid lowering it) raises it to its own.
 */
export function containerResources(pod: Pod, c: Container, machineMemoryBytes: number): ContainerResources {
  const cpuRequest = milliValue(c.resources?.requests?.['cpu']);
  const cpuLimit = milliValue(limitsOf(c)['cpu']);
  return {
    cpuShares: milliCpuToShares(cpuRequest === 0 && cpuLimit !== 0 ? cpuLimit : cpuRequest),
    cpuPeriod: QUOTA_PERIOD_US,
    cpuQuota: milliCpuToQuota(cpuLimit),
    memoryLimitInBytes: value(limitsOf(c)['memory']),
    oomScoreAdj: containerOomScoreAdj(pod, c, machineMemoryBytes),
  };
}

/** Pod totals in milli-units (cpu: millicores, memory: milli-bytes / 1000 = bytes via value). */
export interface PodTotals {
  requests: Map<string, number>;
  limits: Map<string, number>;
}

function addAll(into: Map<string, number>, list: ResourceList, read: (q: string | number) => number): void {
  for (const [name, q] of Object.entries(list)) into.set(name, (into.get(name) ?? 0) + read(q));
}

function maxAll(into: Map<string, number>, list: ResourceList, read: (q: string | number) => number): void {
  for (const [name, q] of Object.entries(list)) into.set(name, Math.max(into.get(name) ?? 0, read(q)));
}

/** cpu in millicores, everything else in base units. */
function readAs(name: string): (q: string | number) => number {
  return name === 'cpu' ? milliValue : value;
}

function readList(list: ResourceList): ResourceList {
  const out: ResourceList = {};
  for (const [name, q] of Object.entries(list)) out[name] = readAs(name)(q);
  return out;
}

/**
 * Upstream PodRequestsAndLimits: app containers summed, each init container a floor, the pod's
 * overhead added to the requests and to the limits that are set. cpu in millicores, memory in bytes.
 */
export function podRequestsAndLimits(pod: Pod): PodTotals {
  const requests = new Map<string, number>();
  const limits = new Map<string, number>();
  const num = (q: string | number): number => Number(q);
  for (const c of pod.spec.containers) {
    addAll(requests, readList(effectiveRequests(c)), num);
    addAll(limits, readList(limitsOf(c)), num);
  }
  for (const c of pod.spec.initContainers ?? []) {
    maxAll(requests, readList(effectiveRequests(c)), num);
    maxAll(limits, readList(limitsOf(c)), num);
  }
  const overhead = readList((pod.spec['overhead'] ?? {}) as ResourceList);
  addAll(requests, overhead, num);
  for (const [name, v] of Object.entries(overhead)) {
    const l = limits.get(name);
    if (l !== undefined && l !== 0) limits.set(name, l + Number(v));
  }
  return { requests, limits };
}

/** The pod cgroup's settings (upstream ResourceConfigForPod, CFS quota enforced). */
export interface PodCgroupConfig {
  cpuShares: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  memoryLimitBytes?: number;
}

export function podCgroupConfig(pod: Pod): PodCgroupConfig {
  const { requests, limits } = podRequestsAndLimits(pod);
  const cpuShares = milliCpuToShares(requests.get('cpu') ?? 0);
  const cpuQuota = milliCpuToQuota(limits.get('cpu') ?? 0);
  const memory = limits.get('memory') ?? 0;
  // Upstream looks at app containers only for "every container declared a limit".
  const cpuLimitsDeclared = pod.spec.containers.every((c) => milliValue(limitsOf(c)['cpu']) > 0);
  const memoryLimitsDeclared = pod.spec.containers.every((c) => value(limitsOf(c)['memory']) > 0);
  switch (podQosClass(pod)) {
    case 'Guaranteed':
      return { cpuShares, cpuQuota, cpuPeriod: QUOTA_PERIOD_US, memoryLimitBytes: memory };
    case 'Burstable':
      return {
        cpuShares,
        ...(cpuLimitsDeclared ? { cpuQuota, cpuPeriod: QUOTA_PERIOD_US } : {}),
        ...(memoryLimitsDeclared ? { memoryLimitBytes: memory } : {}),
      };
    case 'BestEffort':
      return { cpuShares: MIN_SHARES };
  }
}

/**
 * The pod's cgroup (cgroupfs driver): `<root>/kubepods/<qos>/pod<uid>`, Guaranteed pods
 * directly under kubepods, as upstream's pod container manager names them. Without
 * cgroups-per-qos, pods get no cgroup of their own ('': the runtime's default parent).
 */
export function podCgroupParent(pod: Pod, cgroupRoot: string, cgroupsPerQOS: boolean): string {
  if (!cgroupsPerQOS) return cgroupRoot === '' || cgroupRoot === '/' ? '' : cgroupRoot;
  const root = cgroupRoot === '' ? '/' : cgroupRoot;
  const base = `${root.replace(/\/+$/, '')}/kubepods`;
  const qos = podQosClass(pod);
  // The UID becomes a folder in every cgroup hierarchy: one plain component or nothing.
  const uid = component(pod.metadata.uid ?? '', 'pod uid');
  return qos === 'Guaranteed' ? `${base}/pod${uid}` : `${base}/${qos.toLowerCase()}/pod${uid}`;
}
