// Which CRI container or sandbox a stream request means, from the kubelet's runtime view of its
// pods (the PLEG cache: PodRuntimeState per pod UID), as upstream's findContainer and
// GetPortForward look in the runtime's running pods: the pod by namespace and name, the newest
// running container with that name, the newest ready sandbox.
//
// The UID in /exec/{ns}/{pod}/{uid}/{container} only chooses between instances with the same
// name (an edited static pod briefly has two): upstream matches on the full name once it is
// given, and the API server never sends a UID (for a static pod it would be the mirror pod's).
// Pure: the caller passes the states.
import type { PodRuntimeState } from '../pods/runtime-state.js';

export type Resolved = { id: string } | { error: string; status: number };

function podNamed(states: Iterable<PodRuntimeState>, namespace: string, name: string, uid: string | undefined): PodRuntimeState[] {
  const found = [...states].filter((s) => s.namespace === namespace && s.name === name);
  const byUid = uid === undefined ? [] : found.filter((s) => s.uid === uid);
  return byUid.length > 0 ? byUid : found;
}

/** The running container `container` of pod namespace/name (exec, attach). */
export function resolveContainerIn(states: Iterable<PodRuntimeState>, namespace: string, name: string, uid: string | undefined, container: string): Resolved {
  const pods = podNamed(states, namespace, name, uid);
  if (pods.length === 0) return { error: `pod ${namespace}/${name} not found on this node`, status: 404 };
  let known = false;
  let best: PodRuntimeState['containers'][number] | undefined;
  for (const p of pods) {
    for (const c of p.containers) {
      if (c.name !== container) continue;
      known = true;
      if (c.state === 'running' && (!best || c.createdAt > best.createdAt)) best = c;
    }
  }
  if (best) return { id: best.id };
  if (known) return { error: `container "${container}" in pod "${name}" is not running`, status: 400 };
  return { error: `container "${container}" not found in pod ${namespace}/${name}`, status: 404 };
}

/** The ready sandbox of pod namespace/name (portForward). */
export function resolveSandboxIn(states: Iterable<PodRuntimeState>, namespace: string, name: string, uid: string | undefined): Resolved {
  const pods = podNamed(states, namespace, name, uid);
  if (pods.length === 0) return { error: `pod ${namespace}/${name} not found on this node`, status: 404 };
  let best: PodRuntimeState['sandboxes'][number] | undefined;
  for (const p of pods) for (const s of p.sandboxes) if (s.ready && (!best || s.createdAt > best.createdAt)) best = s;
  if (!best) return { error: `pod ${namespace}/${name} has no running sandbox`, status: 400 };
  return { id: best.id };
}
