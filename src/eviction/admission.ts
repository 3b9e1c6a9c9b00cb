// Admission under node pressure, as upstream's eviction manager admits pods: with no pressure
// condition everything passes; critical pods always pass; under memory pressure alone, pods that
// are not BestEffort pass, and BestEffort ones that tolerate the memory-pressure taint; under any
// other pressure (disk, PIDs) nothing else passes. Refused pods get reason Evicted and upstream's
// "The node had condition: [...]. " message. Pure.
import type { Pod, Toleration } from '../api/core-v1.js';
import { isCriticalPod, podQosClass } from '../pods/resources.js';
import type { NodeConditionType } from './thresholds.js';

export const EVICTED_REASON = 'Evicted';
export const TAINT_MEMORY_PRESSURE = 'node.kubernetes.io/memory-pressure';

export type PressureAdmitResult = { admit: true } | { admit: false; reason: string; message: string };

/** Upstream ToleratesTaint for a taint with an empty value. */
function tolerates(t: Toleration, key: string, effect: string): boolean {
  if (t.effect && t.effect !== effect) return false;
  const op = t.operator || 'Equal';
  if (op === 'Exists') return !t.key || t.key === key;
  return t.key === key && (t.value ?? '') === '';
}

/** Upstream prints the conditions as a Go slice: "[MemoryPressure DiskPressure]". */
export function pressureMessage(conditions: readonly NodeConditionType[]): string {
  return `The node had condition: [${conditions.join(' ')}]. `;
}

export function admitUnderPressure(pod: Pod, conditions: readonly NodeConditionType[]): PressureAdmitResult {
  if (conditions.length === 0 || isCriticalPod(pod)) return { admit: true };
  if (conditions.length === 1 && conditions[0] === 'MemoryPressure') {
    if (podQosClass(pod) !== 'BestEffort') return { admit: true };
    const tolerations = pod.spec.tolerations ?? [];
    if (tolerations.some((t) => tolerates(t, TAINT_MEMORY_PRESSURE, 'NoSchedule'))) return { admit: true };
  }
  return { admit: false, reason: EVICTED_REASON, message: pressureMessage(conditions) };
}
