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
import type { MessageOf } from '../../bus/messages.js';
import type { PlegStats } from '../../bus/requests.js';
import type { ListedPod } from '../../pods/sync.js';
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

// ---- The PLEG's state and its rules -------------------------------------------------------------
// Everything the PLEG thread decides, with no I/O and the clock passed in: which pods a relist
// must inspect, what to post when an inspection or an event comes back, when a relist's news is
// older than the events' (and so dropped), tombstones, and when the event stream counts as up,
// broken or absent. The thread (thread.ts) lists, inspects, keeps the timers and the stream, and
// carries out the effects. The state is this object's alone and is changed in place: copying
// maps of every container per event would cost more than the PLEG does (10k containers at
// 1000 pods); each call returns what the thread must do.

/** What a call asks the thread to do. */
export type PlegEffect =
  /** Publish on pod.state. */
  | { type: 'post'; msg: PodStateMessage }
  /** Publish a mode change on pleg.relist (evented or not, and why). */
  | { type: 'mode'; evented: boolean; streamError?: string }
  /** The relist period changed (evented on or off): re-arm the relist timer. */
  | { type: 'reschedule' }
  /** Events are batched: call flush() once the current burst is read (setImmediate). */
  | { type: 'flush-soon' }
  /** Reopen the event stream after this long, and relist then. */
  | { type: 'reopen-stream'; afterMs: number }
  /** Relist at once (whatever the stream would have said meanwhile). */
  | { type: 'relist-now' };

export type PodStateMessage = { type: 'state'; uid: string; state: PodRuntimeState; events: PlegEvent[] } | { type: 'gone'; uid: string; events: PlegEvent[] };

export interface PlegLogicConfig {
  runtimeName: string;
  /** Follow the runtime's event stream when it has one. */
  evented: boolean;
  relistPeriodMs: number;
  eventedRelistPeriodMs: number;
}

/** One relist in progress: what it listed, and the events per pod it found. */
export interface RelistRound {
  t0: number;
  intervalMs: number;
  /** The pods to inspect, with their part of the full lists. */
  inspect: Map<string, ListedPod>;
  byPod: Map<string, PlegEvent[]>;
}

/** A failure of the stream as the CRI client reports it. */
export interface StreamEnd {
  code?: string | undefined;
  message: string;
}

export class PlegLogic {
  /** The last relist (updated by events): pod UID -> object ID -> PLEG state. */
  previous: Relist = new Map();
  /** Each pod's newest posted state (from a relist or events). */
  readonly model = new Map<string, PodRuntimeState>();
  /** Which pod each object ID belongs to. */
  readonly owner = new Map<string, string>();
  /** Pods the events said are gone, and when: kept until a relist that began later confirms it. */
  readonly tombstones = new Map<string, number>();
  /** Pods whose inspection failed: inspected again on the next relist (upstream). */
  readonly retry = new Set<string>();
  readonly stats: PlegStats = {
    relists: 0,
    failedRelists: 0,
    lastRelistOkAt: 0,
    lastRelistMs: 0,
    pods: 0,
    inspectRetries: 0,
    evented: false,
    events: 0,
    staleEvents: 0,
    streamFailures: 0,
  };
  periodMs: number;
  /** No event stream at all (Unimplemented, switched off, or not wanted): relist only. */
  streamless: boolean;
  /** Why the stream is not used, while it is not. */
  streamError: string | undefined;
  private streamOpenedAt = 0;
  private streamOpen = false;
  private eventsSinceOpen = 0;
  private quickEnds = 0;
  private backoffMs = 1000;
  private lastStart = 0;
  /** Pods changed by events since the last flush, with their lifecycle events. */
  private batch = new Map<string, PlegEvent[]>();

  constructor(
    private readonly cfg: PlegLogicConfig,
    private readonly startedAt: number,
  ) {
    this.periodMs = cfg.relistPeriodMs;
    this.streamless = !cfg.evented;
  }

  /** The relist period in force: the safety net's while the stream is up. */
  get relistPeriodMs(): number {
    return this.stats.evented ? this.cfg.eventedRelistPeriodMs : this.periodMs;
  }

  /** A pod whose events are as new as a list begun at t0 or newer keeps what the events said. */
  private newer(uid: string, t0: number): boolean {
    return (this.model.get(uid)?.observedAt ?? this.tombstones.get(uid) ?? 0) >= t0;
  }

  // -- relists --

  beginRelist(now: number): { t0: number; intervalMs: number } {
    const intervalMs = this.lastStart ? now - this.lastStart : 0;
    this.lastStart = now;
    return { t0: now, intervalMs };
  }

  /** The runtime's lists for a relist begun at t0: the pods to inspect, and the gone ones' posts. */
  listed(
    begun: { t0: number; intervalMs: number },
    sandboxes: readonly PodSandbox__Output[],
    containers: readonly Container__Output[],
  ): { round: RelistRound; effects: PlegEffect[] } {
    const { t0 } = begun;
    const next = buildRelist(sandboxes, containers);
    const { events, changed } = diffRelist(this.previous, next);
    const byPod = new Map<string, PlegEvent[]>();
    for (const e of events) {
      const list = byPod.get(e.podUid) ?? [];
      list.push(e);
      byPod.set(e.podUid, list);
    }
    // The list began before events that arrived since: those pods keep what the events said, a
    // deleted one included (its tombstone holds when the events said so).
    for (const [uid, objects] of this.previous) if (this.newer(uid, t0)) next.set(uid, objects);
    for (const uid of [...next.keys()]) if (this.newer(uid, t0) && !this.previous.has(uid)) next.delete(uid);
    this.previous = next;
    for (const uid of [...changed]) if (this.newer(uid, t0)) changed.delete(uid);
    const todo = new Set([...changed, ...this.retry]);
    this.retry.clear();
    const effects: PlegEffect[] = [];
    const inspect = new Map<string, ListedPod>();
    for (const uid of todo) {
      if (next.has(uid)) inspect.set(uid, { sandboxes: [], containers: [], observedAt: t0 });
      else {
        this.forget(uid, t0);
        effects.push({ type: 'post', msg: { type: 'gone', uid, events: byPod.get(uid) ?? [] } });
      }
    }
    // The changed pods' parts of the full lists: their inspections need only the status calls
    // (upstream's GetPodStatus lists again per pod).
    for (const sb of sandboxes) {
      const uid = sb.labels[LABEL_POD_UID];
      if (uid !== undefined) inspect.get(uid)?.sandboxes.push(sb);
    }
    for (const c of containers) {
      const uid = c.labels[LABEL_POD_UID];
      if (uid !== undefined) inspect.get(uid)?.containers.push(c);
    }
    return { round: { ...begun, inspect, byPod }, effects };
  }

  /** An inspection of the round came back: post it, unless events during it said more. */
  inspected(round: RelistRound, uid: string, state: PodRuntimeState): PlegEffect[] {
    if (this.newer(uid, round.t0)) return [];
    this.remember(uid, state);
    return [{ type: 'post', msg: { type: 'state', uid, state, events: round.byPod.get(uid) ?? [] } }];
  }

  inspectFailed(uid: string): void {
    this.retry.add(uid);
    this.stats.inspectRetries++;
  }

  /** The round is over (every inspection answered or failed). */
  relistDone(round: RelistRound, now: number): { relist: MessageOf<'pleg.relist'>; effects: PlegEffect[] } {
    const effects: PlegEffect[] = [];
    // A stream opened before this relist and not failed since is up (a quiet runtime sends no
    // event to prove it; one without the stream has answered Unimplemented by now, as the list
    // calls went after it on the same connection). Its relists slow down from here.
    if (this.streamOpen && this.streamOpenedAt <= round.t0 && !this.stats.evented) {
      this.streamError = undefined;
      this.backoffMs = 1000;
      this.setEvented(true, effects);
    }
    // A deletion before this list began is in the list: its tombstone is no longer needed.
    for (const [uid, at] of this.tombstones) if (at < round.t0) this.tombstones.delete(uid);
    this.stats.relists++;
    this.stats.lastRelistOkAt = now;
    this.stats.lastRelistMs = now - round.t0;
    this.stats.pods = this.previous.size;
    return {
      relist: { type: 'relist', ok: true, durationMs: this.stats.lastRelistMs, intervalMs: round.intervalMs, pods: this.previous.size, at: now },
      effects,
    };
  }

  relistFailed(begun: { t0: number; intervalMs: number }, now: number, error: string): MessageOf<'pleg.relist'> {
    this.stats.failedRelists++;
    return { type: 'relist', ok: false, durationMs: now - begun.t0, intervalMs: begun.intervalMs, error, pods: this.previous.size, at: now };
  }

  // -- the event stream --

  streamOpened(now: number): void {
    this.streamOpen = true;
    this.streamOpenedAt = now;
    this.eventsSinceOpen = 0;
  }

  /** One runtime event. */
  event(e: ContainerEvent, now: number): PlegEffect[] {
    const effects: PlegEffect[] = [];
    this.stats.events++;
    if (!this.stats.evented) {
      // An event proves the stream works: the slow relist takes over.
      this.streamError = undefined;
      this.setEvented(true, effects);
    }
    this.backoffMs = 1000;
    this.eventsSinceOpen++;
    this.quickEnds = 0;
    const uid = eventPodUid(e, this.owner);
    if (!uid) return effects; // not a kubelet-managed object
    const createdMs = e.createdAt > 0 ? e.createdAt / 1e6 : now;
    // Older news than what the PLEG holds: a runtime may deliver events it queued while nobody
    // listened (after a reconnect), and the relist that followed the open already said more.
    const known = this.model.get(uid)?.observedAt ?? this.tombstones.get(uid);
    if (createdMs < this.streamOpenedAt || (known !== undefined && createdMs < known)) {
      this.stats.staleEvents++;
      return effects;
    }
    const observedAt = Math.min(now, createdMs);
    const objects = this.previous.get(uid);
    const events = eventsOfContainerEvent(uid, e, objects?.get(e.containerId) ?? 'gone');
    const state = applyContainerEvent(this.model.get(uid), uid, e, this.cfg.runtimeName, observedAt);
    if (e.containerEventType === 'CONTAINER_DELETED_EVENT') this.owner.delete(e.containerId);
    this.remember(uid, state);
    const rel = relistOfState(state);
    if (rel.size > 0) this.previous.set(uid, rel);
    else this.previous.delete(uid);
    const pending = this.batch.get(uid);
    if (pending) pending.push(...events);
    else {
      if (this.batch.size === 0) effects.push({ type: 'flush-soon' });
      this.batch.set(uid, events);
    }
    return effects;
  }

  /** Posts every pod the events changed since the last flush, once each. */
  flush(now: number): PlegEffect[] {
    const posts = this.batch;
    this.batch = new Map();
    const effects: PlegEffect[] = [];
    for (const [uid, events] of posts) {
      const state = this.model.get(uid);
      if (!state || (state.sandboxes.length === 0 && state.containers.length === 0)) {
        this.forget(uid, state?.observedAt ?? now);
        effects.push({ type: 'post', msg: { type: 'gone', uid, events } });
      } else {
        effects.push({ type: 'post', msg: { type: 'state', uid, state, events } });
      }
    }
    this.stats.pods = this.previous.size;
    return effects;
  }

  /** The stream ended. `err` undefined: cancelled by stop(), nothing to do. */
  streamEnded(err: StreamEnd | undefined, now: number): PlegEffect[] {
    this.streamOpen = false;
    if (err === undefined) return [];
    const effects: PlegEffect[] = [];
    this.stats.streamFailures++;
    this.setEvented(false, effects);
    // A runtime that ends the stream at once, before any event, three times in a row has it
    // switched off (CRI-O without pod events answers OK and ends): as good as Unimplemented,
    // rather than reconnecting forever. Once could be a runtime restarting.
    if (this.eventsSinceOpen === 0 && now - this.streamOpenedAt < 1000 && /ended the event stream/.test(err.message)) this.quickEnds++;
    else this.quickEnds = 0;
    if (err.code === 'KTS_CRI_UNIMPLEMENTED' || this.quickEnds >= 3) {
      // containerd 1.6 and any runtime before CRI 1.26: relisting is all there is.
      this.streamless = true;
      this.streamError = `the runtime has no event stream (${err.message}); relisting every ${this.periodMs} ms`;
    } else {
      this.streamError = `${err.message}; relisting every ${this.periodMs} ms, retrying the stream in ${this.backoffMs} ms`;
      effects.push({ type: 'reopen-stream', afterMs: this.backoffMs });
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    }
    effects.push(this.modeEffect());
    // Whatever the stream would have said meanwhile, a relist says now.
    effects.push({ type: 'relist-now' });
    return effects;
  }

  /** The mode as it stands, for pleg.relist. */
  modeEffect(): PlegEffect {
    return this.streamError === undefined
      ? { type: 'mode', evented: this.stats.evented }
      : { type: 'mode', evented: this.stats.evented, streamError: this.streamError };
  }

  /** Healthy while the last good relist is younger than the threshold (upstream: 3 min; evented: 10 min). */
  health(now: number, thresholdMs = this.stats.evented ? EVENTED_UNHEALTHY_AFTER_MS : PLEG_UNHEALTHY_AFTER_MS): { ok: boolean; message?: string } {
    const age = now - (this.stats.lastRelistOkAt || this.startedAt);
    return age <= thresholdMs
      ? { ok: true }
      : {
          ok: false,
          message: `PLEG is not healthy: pleg was last seen active ${Math.round(age / 1000)}s ago; threshold is ${Math.round(thresholdMs / 1000)}s`,
        };
  }

  private setEvented(on: boolean, effects: PlegEffect[]): void {
    if (this.stats.evented === on) return;
    this.stats.evented = on;
    effects.push(this.modeEffect());
    // The period changed: the next relist is due by the new one.
    effects.push({ type: 'reschedule' });
  }

  private remember(uid: string, state: PodRuntimeState): void {
    const before = idsOf(this.model.get(uid));
    this.model.set(uid, state);
    this.tombstones.delete(uid);
    const now = idsOf(state);
    const keep = new Set(now);
    // IDs the pod no longer has (removed, garbage-collected) leave the owner map with it.
    for (const id of before) if (!keep.has(id) && this.owner.get(id) === uid) this.owner.delete(id);
    for (const id of now) this.owner.set(id, uid);
  }

  /** The pod is gone as of `at` (ms): a relist that began earlier must not bring it back. */
  private forget(uid: string, at: number): void {
    for (const id of idsOf(this.model.get(uid))) if (this.owner.get(id) === uid) this.owner.delete(id);
    this.model.delete(uid);
    if (this.stats.evented) this.tombstones.set(uid, at);
  }
}

function idsOf(state: PodRuntimeState | undefined): string[] {
  return state ? [...state.sandboxes.map((s) => s.id), ...state.containers.map((c) => c.id)] : [];
}
