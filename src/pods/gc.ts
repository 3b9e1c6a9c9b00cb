// Garbage collection of dead containers and sandboxes, as upstream's container GC (every minute,
// `--maximum-dead-containers-per-container`, default 1): per pod and container name, the newest
// dead containers beyond the limit are removed, running ones never; sandboxes that are not ready
// and not the pod's newest are removed. What is kept is what status (lastState) and
// `kubectl logs --previous` read. Pure: the housekeeping loop runs the plan on the sync pool.
import { containersNamed, type PodRuntimeState } from './runtime-state.js';

export interface GcPlan {
  containers: string[];
  sandboxes: string[];
}

export function planGarbageCollection(state: PodRuntimeState, maxDeadPerContainer = 1): GcPlan {
  const containers: string[] = [];
  const names = new Set(state.containers.map((c) => c.name));
  for (const name of names) {
    const dead = containersNamed(state, name).filter((c) => c.state === 'exited' || c.state === 'unknown');
    containers.push(...dead.slice(Math.max(0, maxDeadPerContainer)).map((c) => c.id));
  }
  const newest = state.sandboxes[0]?.id;
  const sandboxes = state.sandboxes.filter((s) => !s.ready && s.id !== newest).map((s) => s.id);
  return { containers, sandboxes };
}
