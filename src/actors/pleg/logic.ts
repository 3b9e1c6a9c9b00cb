// The PLEG relister's logic: turn two consecutive relists of the runtime into pod lifecycle
// events, and CRI answers into the pod runtime state the status cache holds. Pure; the actor
// that relists every second on its own thread, inspects changed pods and publishes on the bus
// runs these.
//
// As upstream's generic PLEG: sandboxes count as containers of their pod; "created" counts as
// unknown (a kubelet creates and starts in one sync); an event is generated only when a
// container's state differs from the previous relist:
//   -> running: ContainerStarted;  -> exited: ContainerDied;  -> unknown: ContainerChanged;
//   gone: ContainerRemoved, preceded by ContainerDied unless it was already seen exited.
// Assumption (upstream's too): a container is not created, started, exited and removed within
// one relist period; if it is, the pod still gets an event because its set of IDs changed.
import type { Container__Output } from '../../gen/cri/runtime/v1/Container.js';
import type { PodSandbox__Output } from '../../gen/cri/runtime/v1/PodSandbox.js';
import { containerFromStatus, podIdentity, sandboxFromStatus } from '../../pods/cri-status.js';
import type { ContainerEvent } from '../../native/cri/api.js';
import type { PlegEvent } from '../../pods/pleg-event.js';
import { LABEL_POD_UID, newestFirst, type PodRuntimeState } from '../../pods/runtime-state.js';

export type PlegState = 'running' | 'exited' | 'unknown' | 'gone';

/** Upstream: unhealthy when the last relist is older than 3 min. */
export const PLEG_UNHEALTHY_AFTER_MS = 3 * 60_000;
/** Upstream's evented PLEG: relist every 5 min as a safety net, unhealthy after 10 min without one. */
export const EVENTED_RELIST_PERIOD_MS = 5 * 60_000;
export const EVENTED_UNHEALTHY_AFTER_MS = 10 * 60_000;

export type { PlegEvent };

/** One relist: pod UID -> container or sandbox ID -> its PLEG state. */
export type Relist = Map<string, Map<string, Exclude<PlegState, 'gone'>>>;

function criContainerState(s: string): Exclude<PlegState, 'gone'> {
  switch (s) {
    case 'CONTAINER_RUNNING':
      return 'running';
    case 'CONTAINER_EXITED':
      return 'exited';
    default:
      return 'unknown'; // CREATED and UNKNOWN, as upstream
  }
}

/** Groups a ListPodSandbox + ListContainers answer by pod UID (label io.kubernetes.pod.uid). */
export function buildRelist(sandboxes: readonly PodSandbox__Output[], containers: readonly Container__Output[]): Relist {
  const out: Relist = new Map();
  const add = (uid: string | undefined, id: string, state: Exclude<PlegState, 'gone'>): void => {
    if (!uid) return; // not a kubelet-managed object: not ours to report
    let pod = out.get(uid);
    if (!pod) out.set(uid, (pod = new Map<string, Exclude<PlegState, 'gone'>>()));
    pod.set(id, state);
  };
  for (const s of sandboxes) add(s.labels[LABEL_POD_UID] ?? s.metadata?.uid, s.id, s.state === 'SANDBOX_READY' ? 'running' : 'exited');
  for (const c of containers) add(c.labels[LABEL_POD_UID], c.id, criContainerState(c.state));
  return out;
}

function eventsFor(podUid: string, containerId: string, old: PlegState, now: PlegState, out: PlegEvent[]): void {
  if (old === now) return;
  switch (now) {
    case 'running':
      out.push({ type: 'ContainerStarted', podUid, containerId });
      return;
    case 'exited':
      out.push({ type: 'ContainerDied', podUid, containerId });
      return;
    case 'unknown':
      out.push({ type: 'ContainerChanged', podUid, containerId });
      return;
    case 'gone':
      if (old !== 'exited') out.push({ type: 'ContainerDied', podUid, containerId });
      out.push({ type: 'ContainerRemoved', podUid, containerId });
      return;
  }
}

/** Events between two relists, and the UIDs of every pod that changed. */
export function diffRelist(prev: Relist, next: Relist): { events: PlegEvent[]; changed: Set<string> } {
  const events: PlegEvent[] = [];
  const changed = new Set<string>();
  const uids = new Set([...prev.keys(), ...next.keys()]);
  for (const uid of uids) {
    const before = prev.get(uid);
    const after = next.get(uid);
    const ids = new Set([...(before?.keys() ?? []), ...(after?.keys() ?? [])]);
    const n = events.length;
    for (const id of ids) eventsFor(uid, id, before?.get(id) ?? 'gone', after?.get(id) ?? 'gone', events);
    if (events.length > n) changed.add(uid);
  }
  return { events, changed };
}

// ---- The evented PLEG (GetContainerEvents) ------------------------------------------------------
// Each runtime event carries its sandbox's status and the statuses of all that sandbox's
// containers, so a pod's state is kept up to date from the events alone: the event's sandbox and
// its containers replace what the state held for that sandbox; the pod's other (older) sandboxes
// stay as they were. Lifecycle events follow upstream's evented PLEG: created updates the state
// with no event, started is ContainerStarted, stopped ContainerDied, deleted ContainerRemoved
// (with ContainerDied first unless the container was already seen exited).

/** The pod an event concerns: its sandbox's labels, else what we knew of the ID. */
export function eventPodUid(e: ContainerEvent, known: ReadonlyMap<string, string>): string | undefined {
  const sb = e.podSandboxStatus;
  const uid = sb ? (sb.labels[LABEL_POD_UID] ?? sb.metadata?.uid) : undefined;
  return uid || known.get(e.containerId);
}

/** A pod's state after one event; `prev` is not changed. */
export function applyContainerEvent(prev: PodRuntimeState | undefined, uid: string, e: ContainerEvent, runtime: string, observedAt: number): PodRuntimeState {
  const sb = e.podSandboxStatus;
  const name = prev?.name || (sb ? podIdentity(sb).name : '');
  const namespace = prev?.namespace || (sb ? podIdentity(sb).namespace : '');
  let sandboxes = prev?.sandboxes ?? [];
  let containers = prev?.containers ?? [];
  if (sb) {
    sandboxes = [...sandboxes.filter((s) => s.id !== sb.id), sandboxFromStatus(sb)];
    // As the relist: only the pod's own (labelled) containers; one made by hand in the sandbox is not the kubelet's.
    const own = e.containersStatuses.filter((c) => c.labels[LABEL_POD_UID] === uid);
    containers = [...containers.filter((c) => c.sandboxId !== sb.id), ...own.map((c) => containerFromStatus(c, sb.id, runtime))];
  }
  if (e.containerEventType === 'CONTAINER_DELETED_EVENT') {
    // A deleted sandbox takes its containers with it; a deleted container is simply gone.
    sandboxes = sandboxes.filter((s) => s.id !== e.containerId);
    containers = containers.filter((c) => c.id !== e.containerId && c.sandboxId !== e.containerId);
  }
  return {
    uid,
    name,
    namespace,
    sandboxes: [...sandboxes].sort(newestFirst),
    containers: [...containers].sort(newestFirst),
    observedAt,
    source: 'event',
  };
}

/** The PLEG state of every object of a pod state, in relist terms (sandboxes count as containers). */
export function relistOfState(state: PodRuntimeState): Map<string, Exclude<PlegState, 'gone'>> {
  const out = new Map<string, Exclude<PlegState, 'gone'>>();
  for (const s of state.sandboxes) out.set(s.id, s.ready ? 'running' : 'exited');
  for (const c of state.containers) out.set(c.id, c.state === 'running' ? 'running' : c.state === 'exited' ? 'exited' : 'unknown');
  return out;
}

/** Lifecycle events for one runtime event, given what the object's PLEG state was before it. */
export function eventsOfContainerEvent(uid: string, e: ContainerEvent, before: PlegState): PlegEvent[] {
  const out: PlegEvent[] = [];
  switch (e.containerEventType) {
    case 'CONTAINER_STARTED_EVENT':
      if (before !== 'running') out.push({ type: 'ContainerStarted', podUid: uid, containerId: e.containerId });
      break;
    case 'CONTAINER_STOPPED_EVENT':
      if (before !== 'exited') out.push({ type: 'ContainerDied', podUid: uid, containerId: e.containerId });
      break;
    case 'CONTAINER_DELETED_EVENT':
      if (before !== 'gone') eventsFor(uid, e.containerId, before, 'gone', out);
      break;
    case 'CONTAINER_CREATED_EVENT':
      break; // the state changes, no lifecycle event (as upstream)
    default:
      break; // a type newer than this kubelet: the state still counts
  }
  return out;
}
