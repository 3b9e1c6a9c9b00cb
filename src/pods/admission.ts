// Pod admission, as upstream's kubelet runs it when a pod first arrives (HandlePodAdditions ->
// canAdmitPod): first the sysctl allowlist (SysctlForbidden), then the GeneralPredicates
// resource fit: the node's pod count against max-pods,
// then the pod's cpu, memory and ephemeral-storage requests against allocatable minus what the
// admitted, still-running pods request. A pod that does not fit is rejected for good: phase
// Failed with reason OutOf<resource> and upstream's message; nothing is started for it.
//
// Pure: allocatable comes from node-status.ts's capacityAndAllocatable (the same numbers the
// Node object shows), the other pods from the pod workers. Static pods are admitted the same
// way; upstream would first try to evict lower-priority pods for them (critical pod
// preemption), which this kubelet does not do: a static pod that does not fit is rejected.
import type { Pod } from '../api/core-v1.js';
import { parseQuantity } from '../api/quantity.js';
import { podRequestsAndLimits } from './resources.js';

export type AdmitResult = { admit: true } | { admit: false; reason: string; message: string };

/** Allocatable as the node reports it (quantity strings: cpu "2", memory "24Gi", pods "110"). */
export type Allocatable = Record<string, string>;

/** Upstream's InsufficientResourceError text (cpu in millicores, memory and storage in bytes). */
export function insufficientMessage(resource: string, requested: number, used: number, capacity: number): string {
  return `Node didn't have enough resource: ${resource}, requested: ${requested}, used: ${used}, capacity: ${capacity}`;
}

function allocatableOf(allocatable: Allocatable, resource: string): number {
  const q = allocatable[resource];
  if (q === undefined) return 0;
  const v = parseQuantity(q);
  return resource === 'cpu' ? Math.round(v * 1000) : Math.floor(v);
}

/** cpu in millicores, memory and ephemeral-storage in bytes, as upstream's scheduler Resource. */
function requestsOf(pod: Pod): { cpu: number; memory: number; 'ephemeral-storage': number } {
  const r = podRequestsAndLimits(pod).requests;
  return { cpu: r.get('cpu') ?? 0, memory: r.get('memory') ?? 0, 'ephemeral-storage': r.get('ephemeral-storage') ?? 0 };
}

/**
 * Whether `pod` fits beside `others` (the admitted pods that are not terminated). The first
 * failing check is the reason, in upstream's order: pods, cpu, memory, ephemeral-storage.
 */
export function admitPod(pod: Pod, others: readonly Pod[], allocatable: Allocatable): AdmitResult {
  const allowedPods = allocatableOf(allocatable, 'pods');
  if (others.length + 1 > allowedPods) {
    return { admit: false, reason: 'OutOfpods', message: insufficientMessage('pods', 1, others.length, allowedPods) };
  }
  const want = requestsOf(pod);
  if (want.cpu === 0 && want.memory === 0 && want['ephemeral-storage'] === 0) return { admit: true };
  const used = { cpu: 0, memory: 0, 'ephemeral-storage': 0 };
  for (const o of others) {
    const r = requestsOf(o);
    used.cpu += r.cpu;
    used.memory += r.memory;
    used['ephemeral-storage'] += r['ephemeral-storage'];
  }
  for (const resource of ['cpu', 'memory', 'ephemeral-storage'] as const) {
    const cap = allocatableOf(allocatable, resource);
    if (cap < want[resource] + used[resource]) {
      return { admit: false, reason: `OutOf${resource}`, message: insufficientMessage(resource, want[resource], used[resource], cap) };
    }
  }
  return { admit: true };
}

/** Upstream v1.20 SafeSysctlWhitelist: allowed on every node. */
export const SAFE_SYSCTLS: readonly string[] = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
];

const IPC_SYSCTLS = new Set([
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.shm_rmid_forced',
]);

/** Upstream NamespacedBy: which namespace a sysctl belongs to ('' when not namespaced). */
function namespaceOf(sysctl: string): 'ipc' | 'net' | '' {
  if (IPC_SYSCTLS.has(sysctl) || sysctl.startsWith('fs.mqueue.')) return 'ipc';
  if (sysctl.startsWith('net.')) return 'net';
  return '';
}

/**
 * Upstream's sysctl admit handler: every sysctl of securityContext.sysctls must be safe or
 * allowed as unsafe (a trailing `*` allows a prefix), and a net/ipc sysctl is refused with the
 * host's network/IPC namespace.
 */
export function admitSysctls(pod: Pod, allowedUnsafe: readonly string[] = []): AdmitResult {
  const sysctls = ((pod.spec.securityContext as { sysctls?: { name: string }[] } | undefined)?.sysctls ?? []).map((s) => s.name);
  const allowed = [...SAFE_SYSCTLS, ...allowedUnsafe];
  for (const name of sysctls) {
    const rule = allowed.find((a) => (a.endsWith('*') ? name.startsWith(a.slice(0, -1)) : a === name));
    let error: string | undefined;
    if (rule === undefined) error = `"${name}" not whitelisted`;
    else {
      const ns = namespaceOf(rule.endsWith('*') ? rule.slice(0, -1) : rule);
      if (ns === 'ipc' && pod.spec.hostIPC) error = `"${name}" not allowed with host ipc enabled`;
      if (ns === 'net' && pod.spec.hostNetwork) error = `"${name}" not allowed with host net enabled`;
    }
    if (error) return { admit: false, reason: 'SysctlForbidden', message: `forbidden sysctl: ${error}` };
  }
  return { admit: true };
}

/** The kubelet's admission chain for a new pod, in upstream's order: sysctls, then resources. */
export function admit(pod: Pod, others: readonly Pod[], allocatable: Allocatable, allowedUnsafeSysctls: readonly string[] = []): AdmitResult {
  const sysctls = admitSysctls(pod, allowedUnsafeSysctls);
  return sysctls.admit ? admitPod(pod, others, allocatable) : sysctls;
}
