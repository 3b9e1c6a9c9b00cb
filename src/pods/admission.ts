// Pod admission, as upstream's kubelet runs it when a pod first arrives (HandlePodAdditions ->
// canAdmitPod -> the GeneralPredicates resource fit): the node's pod count against max-pods,
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
