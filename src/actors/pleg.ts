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
import type { Container__Output } from '../gen/cri/runtime/v1/Container.js';
import type { ContainerStatus__Output } from '../gen/cri/runtime/v1/ContainerStatus.js';
import type { PodSandbox__Output } from '../gen/cri/runtime/v1/PodSandbox.js';
import type { PodSandboxStatus__Output } from '../gen/cri/runtime/v1/PodSandboxStatus.js';
import { containerMessage } from '../pods/termination-message.js';
import {
  ANNOTATION_CONTAINER_HASH,
  ANNOTATION_RESTART_COUNT,
  LABEL_CONTAINER_NAME,
  LABEL_POD_NAME,
  LABEL_POD_NAMESPACE,
  LABEL_POD_UID,
  nsToMs,
  type RuntimeContainer,
  type RuntimeContainerState,
  type RuntimeSandbox,
} from '../pods/runtime-state.js';

export type PlegState = 'running' | 'exited' | 'unknown' | 'gone';

export type PlegEvent =
  | { type: 'ContainerStarted'; podUid: string; containerId: string }
  | { type: 'ContainerDied'; podUid: string; containerId: string }
  | { type: 'ContainerRemoved'; podUid: string; containerId: string }
  | { type: 'ContainerChanged'; podUid: string; containerId: string };

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

function runtimeState(s: string): RuntimeContainerState {
  switch (s) {
    case 'CONTAINER_CREATED':
      return 'created';
    case 'CONTAINER_RUNNING':
      return 'running';
    case 'CONTAINER_EXITED':
      return 'exited';
    default:
      return 'unknown';
  }
}

/** A CRI ContainerStatus in the kubelet's terms; `runtime` is the ID scheme ("containerd"). */
export function containerFromStatus(s: ContainerStatus__Output, sandboxId: string, runtime: string): RuntimeContainer {
  const restart = Number.parseInt(s.annotations[ANNOTATION_RESTART_COUNT] ?? '', 10);
  const attempt = s.metadata?.attempt ?? 0;
  return {
    id: s.id,
    runtime,
    name: s.labels[LABEL_CONTAINER_NAME] ?? s.metadata?.name ?? '',
    sandboxId,
    attempt,
    restartCount: Number.isFinite(restart) ? restart : attempt,
    hash: s.annotations[ANNOTATION_CONTAINER_HASH] ?? '',
    state: runtimeState(s.state),
    createdAt: nsToMs(s.createdAt),
    startedAt: nsToMs(s.startedAt),
    finishedAt: nsToMs(s.finishedAt),
    exitCode: s.exitCode,
    reason: s.reason,
    // The runtime's message, plus the termination message once the container exited.
    message: containerMessage(s),
    image: s.image?.image ?? '',
    imageRef: s.imageRef,
  };
}

/** A CRI PodSandboxStatus in the kubelet's terms. */
export function sandboxFromStatus(s: PodSandboxStatus__Output): RuntimeSandbox {
  const ips = s.network?.ip ? [s.network.ip, ...s.network.additionalIps.map((a) => a.ip).filter((ip) => ip !== '')] : [];
  return {
    id: s.id,
    attempt: s.metadata?.attempt ?? 0,
    ready: s.state === 'SANDBOX_READY',
    createdAt: nsToMs(s.createdAt),
    ips,
    hostNetwork: s.linux?.namespaces?.options?.network === 'NODE',
  };
}

/** Pod identity from the upstream labels of a sandbox. */
export function podIdentity(s: PodSandbox__Output | PodSandboxStatus__Output): { uid: string; name: string; namespace: string } {
  return {
    uid: s.labels[LABEL_POD_UID] ?? s.metadata?.uid ?? '',
    name: s.labels[LABEL_POD_NAME] ?? s.metadata?.name ?? '',
    namespace: s.labels[LABEL_POD_NAMESPACE] ?? s.metadata?.namespace ?? '',
  };
}
