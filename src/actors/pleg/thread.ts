// The PLEG relister, on its own worker thread:
//
//   main thread                         PLEG thread
//   ───────────                         ───────────
//   PlegActor ── comlink control ──────> start / stop
//   main bus  <── bus bridge (port) ──── topics pod.state and pleg.relist
//   main bus  ─── bus requests ─────────> pleg.relist / pleg.configure / pleg.stats / pleg.health
//                                        CRI client (endpoint, or a port to the embedded runtime)
//
// Every period (1 s) it lists sandboxes and containers, diffs with the previous list (upstream
// generic PLEG), inspects the pods that changed (and retries those whose inspection failed), and
// posts each pod's full runtime state with the events. Health is the time since the last good
// relist. A hung runtime call is bounded by the CRI deadline, so one bad inspect cannot stop
// the loop for longer than that; a failed relist is counted and retried next period.
//
// Evented (kubeletTS.eventedPleg, on by default): it also follows the runtime's GetContainerEvents
// stream. Each event carries its sandbox's and containers' statuses, so the pod's state is posted
// from the event with no CRI call, within milliseconds of the change instead of half a relist
// period on average. Events that arrive together are posted once per pod (setImmediate). While
// the stream is up the relist runs every 5 min as a safety net (upstream's evented PLEG); a runtime
// that answers Unimplemented (containerd 1.6) is relisted every second from then on; a stream
// that breaks is relisted every second, at once, and reopened with backoff (1 s doubling to 30 s).
// States carry observedAt, and a relist never posts (or keeps) a pod state older than what the
// events already said: the relist began before those events.
import { parentPort, workerData } from 'node:worker_threads';
import { expose } from 'comlink';
import { connectCri } from '../../native/cri/index.js';
import { createCriClient, type CriClient } from '../../native/cri/client.js';
import { MessagePortCriTransport } from '../../native/cri/port-transport.js';
import { inspectPod, type ListedPod } from '../../pods/sync.js';
import { LABEL_POD_UID } from '../../pods/runtime-state.js';
import { forwardCriCalls } from '../../native/cri/call-metrics.js';
import { PLEG_THREAD_TOPICS, type PlegControl, type PlegStats, type PlegWorkerData } from './protocol.js';
import { applyContainerEvent, EVENTED_UNHEALTHY_AFTER_MS, PLEG_UNHEALTHY_AFTER_MS, buildRelist, diffRelist, eventPodUid, eventsOfContainerEvent, relistOfState, type PlegEvent, type Relist } from './logic.js';
import type { PodRuntimeState } from '../../pods/runtime-state.js';
import type { ContainerEvent, EventSubscription } from '../../native/cri/api.js';
import type { CriError } from '../../native/cri/errors.js';
import { threadEndpoint } from '../host/thread-endpoint.js';
import { Bus, connectPort } from '../../bus/index.js';
import { reportThreadStats } from '../../native/thread-stats.js';

const data = workerData as PlegWorkerData;
const onCall = forwardCriCalls();
const cri: CriClient = data.criPort
  ? createCriClient(new MessagePortCriTransport(data.criPort, 'embedded'), { runtimeRequestTimeoutMs: data.runtimeRequestTimeoutMs, onCall })
  : connectCri(data.endpoint ?? '', { runtimeRequestTimeoutMs: data.runtimeRequestTimeoutMs, onCall, ...(data.imageEndpoint ? { imageEndpoint: data.imageEndpoint } : {}) });

let period = data.relistPeriodMs;
let timer: NodeJS.Timeout | undefined;
let running = false;
let previous: Relist = new Map();
let lastStart = 0;
const started = Date.now();
const retry = new Set<string>();
const stats: PlegStats = { relists: 0, failedRelists: 0, lastRelistOkAt: 0, lastRelistMs: 0, pods: 0, inspectRetries: 0, evented: false, events: 0, staleEvents: 0, streamFailures: 0 };
/** Each pod's newest posted state (from a relist or events), and which pod each object ID belongs to. */
const model = new Map<string, PodRuntimeState>();
const owner = new Map<string, string>();
/** Pods the events said are gone, and when: kept until a relist that began later confirms it. */
const tombstones = new Map<string, number>();
let stream: EventSubscription | undefined;
let streamRetry: NodeJS.Timeout | undefined;
let streamBackoffMs = 1000;
let streamOpenedAt = 0;
let eventsSinceOpen = 0;
let quickEnds = 0;
let streamError: string | undefined;
/** No event stream at all (Unimplemented, or switched off): relist only. */
let streamless = !data.evented;

reportThreadStats('pleg');
const bus = new Bus({ name: 'pleg' });
connectPort(bus, data.events, { topics: PLEG_THREAD_TOPICS });

async function relist(): Promise<void> {
  const t0 = Date.now();
  const interval = lastStart ? t0 - lastStart : 0;
  lastStart = t0;
  try {
    const [sandboxes, containers] = await Promise.all([cri.ListPodSandbox({}), cri.ListContainers({})]);
    const next = buildRelist(sandboxes.items, containers.containers);
    const { events, changed } = diffRelist(previous, next);
    const byPod = new Map<string, PlegEvent[]>();
    for (const e of events) {
      const list = byPod.get(e.podUid) ?? [];
      list.push(e);
      byPod.set(e.podUid, list);
    }
    // A pod whose events are as new as this list or newer keeps what the events said (the list
    // began before them), a deleted one included: its tombstone holds when the events said so.
    const newer = (uid: string): boolean => (model.get(uid)?.observedAt ?? tombstones.get(uid) ?? 0) >= t0;
    for (const [uid, objects] of previous) if (newer(uid)) next.set(uid, objects);
    for (const uid of [...next.keys()]) if (newer(uid) && !previous.has(uid)) next.delete(uid);
    previous = next;
    for (const uid of [...changed]) if (newer(uid)) changed.delete(uid);
    const todo = new Set([...changed, ...retry]);
    retry.clear();
    // The changed pods' parts of the full lists: their inspections need only the status calls
    // (upstream's GetPodStatus lists again per pod).
    const listed = new Map<string, ListedPod>();
    const partOf = (uid: string): ListedPod => {
      let l = listed.get(uid);
      if (!l) listed.set(uid, (l = { sandboxes: [], containers: [], observedAt: t0 }));
      return l;
    };
    for (const sb of sandboxes.items) {
      const uid = sb.labels[LABEL_POD_UID];
      if (uid !== undefined && todo.has(uid)) partOf(uid).sandboxes.push(sb);
    }
    for (const c of containers.containers) {
      const uid = c.labels[LABEL_POD_UID];
      if (uid !== undefined && todo.has(uid)) partOf(uid).containers.push(c);
    }
    await Promise.all(
      [...todo].map(async (uid) => {
        if (!next.has(uid)) {
          forget(uid, t0);
          bus.publish('pod.state', { type: 'gone', uid, events: byPod.get(uid) ?? [] });
          return;
        }
        try {
          const state = await inspectPod(cri, uid, data.runtimeName, undefined, partOf(uid));
          if (newer(uid)) return; // events during the inspection said more (or the pod went)
          remember(uid, state);
          bus.publish('pod.state', { type: 'state', uid, state, events: byPod.get(uid) ?? [] });
        } catch {
          // Upstream: pods whose inspection failed are retried on the next relist.
          retry.add(uid);
          stats.inspectRetries++;
        }
      }),
    );
    // A stream opened before this relist and not failed since is up (a quiet runtime sends no
    // event to prove it; one without the stream has answered Unimplemented by now, as the list
    // calls went after it on the same connection). Its relists slow down from here.
    if (stream && streamOpenedAt <= t0 && !stats.evented) {
      streamError = undefined;
      streamBackoffMs = 1000;
      setEvented(true);
    }
    // A deletion before this list began is in the list: its tombstone is no longer needed.
    for (const [uid, at] of tombstones) if (at < t0) tombstones.delete(uid);
    stats.relists++;
    stats.lastRelistOkAt = Date.now();
    stats.lastRelistMs = Date.now() - t0;
    stats.pods = next.size;
    bus.publish('pleg.relist', { type: 'relist', ok: true, durationMs: stats.lastRelistMs, intervalMs: interval, pods: next.size, at: stats.lastRelistOkAt });
  } catch (err) {
    stats.failedRelists++;
    bus.publish('pleg.relist', { type: 'relist', ok: false, durationMs: Date.now() - t0, intervalMs: interval, error: err instanceof Error ? err.message : String(err), pods: previous.size, at: Date.now() });
  }
}

/** Tells the main thread what the PLEG follows now. */
function postMode(): void {
  bus.publish('pleg.relist', streamError === undefined ? { type: 'mode', evented: stats.evented, at: Date.now() } : { type: 'mode', evented: stats.evented, streamError, at: Date.now() });
}

function idsOf(state: PodRuntimeState | undefined): string[] {
  return state ? [...state.sandboxes.map((s) => s.id), ...state.containers.map((c) => c.id)] : [];
}

function remember(uid: string, state: PodRuntimeState): void {
  const before = idsOf(model.get(uid));
  model.set(uid, state);
  tombstones.delete(uid);
  const now = idsOf(state);
  const keep = new Set(now);
  // IDs the pod no longer has (removed, garbage-collected) leave the owner map with it.
  for (const id of before) if (!keep.has(id) && owner.get(id) === uid) owner.delete(id);
  for (const id of now) owner.set(id, uid);
}

/** The pod is gone as of `at` (ms): a relist that began earlier must not bring it back. */
function forget(uid: string, at: number): void {
  for (const id of idsOf(model.get(uid))) if (owner.get(id) === uid) owner.delete(id);
  model.delete(uid);
  if (stats.evented) tombstones.set(uid, at);
}

// ---- the event stream --------------------------------------------------------------------------

/** Pods changed by events since the last post, with their lifecycle events. */
let batch = new Map<string, PlegEvent[]>();

function onEvent(e: ContainerEvent): void {
  stats.events++;
  if (!stats.evented) {
    // An event proves the stream works: the slow relist takes over.
    streamError = undefined;
    setEvented(true);
  }
  streamBackoffMs = 1000;
  eventsSinceOpen++;
  quickEnds = 0;
  const uid = eventPodUid(e, owner);
  if (!uid) return; // not a kubelet-managed object
  const createdMs = e.createdAt > 0 ? e.createdAt / 1e6 : Date.now();
  // Older news than what the PLEG holds: a runtime may deliver events it queued while nobody
  // listened (after a reconnect), and the relist that followed the open already said more.
  const known = model.get(uid)?.observedAt ?? tombstones.get(uid);
  if (createdMs < streamOpenedAt || (known !== undefined && createdMs < known)) {
    stats.staleEvents++;
    return;
  }
  const observedAt = Math.min(Date.now(), createdMs);
  const objects = previous.get(uid);
  const events = eventsOfContainerEvent(uid, e, objects?.get(e.containerId) ?? 'gone');
  const state = applyContainerEvent(model.get(uid), uid, e, data.runtimeName, observedAt);
  if (e.containerEventType === 'CONTAINER_DELETED_EVENT') owner.delete(e.containerId);
  remember(uid, state);
  const rel = relistOfState(state);
  if (rel.size > 0) previous.set(uid, rel);
  else previous.delete(uid);
  const pending = batch.get(uid);
  if (pending) pending.push(...events);
  else {
    if (batch.size === 0) setImmediate(flushBatch);
    batch.set(uid, events);
  }
}

function flushBatch(): void {
  const posts = batch;
  batch = new Map();
  for (const [uid, events] of posts) {
    const state = model.get(uid);
    if (!state || (state.sandboxes.length === 0 && state.containers.length === 0)) {
      forget(uid, state?.observedAt ?? Date.now());
      bus.publish('pod.state', { type: 'gone', uid, events });
    } else {
      bus.publish('pod.state', { type: 'state', uid, state, events });
    }
  }
  stats.pods = previous.size;
}

function setEvented(on: boolean): void {
  if (stats.evented === on) return;
  stats.evented = on;
  postMode();
  // The period changed: the next relist is due by the new one (one in flight schedules it itself).
  if (running && timer) {
    clearTimeout(timer);
    schedule();
  }
}

function openStream(): void {
  if (streamless || !running || stream) return;
  streamOpenedAt = Date.now();
  eventsSinceOpen = 0;
  try {
    stream = cri.GetContainerEvents({ event: onEvent, end: (err) => onStreamEnd(err) });
  } catch (err) {
    // A client that cannot even start a call (a closed channel): as a broken stream.
    queueMicrotask(() => onStreamEnd(err instanceof Error ? err : new Error(String(err))));
  }
}

function onStreamEnd(err: Error | undefined): void {
  stream = undefined;
  if (err === undefined || !running) return; // cancelled by stop()
  stats.streamFailures++;
  const code = (err as Partial<CriError>).code;
  setEvented(false);
  // A runtime that ends the stream at once, before any event, three times in a row has it
  // switched off (CRI-O without pod events answers OK and ends): as good as Unimplemented,
  // rather than reconnecting forever. Once could be a runtime restarting.
  if (eventsSinceOpen === 0 && Date.now() - streamOpenedAt < 1000 && /ended the event stream/.test(err.message)) quickEnds++;
  else quickEnds = 0;
  if (code === 'KTS_CRI_UNIMPLEMENTED' || quickEnds >= 3) {
    // containerd 1.6 and any runtime before CRI 1.26: relisting is all there is.
    streamless = true;
    streamError = `the runtime has no event stream (${err.message}); relisting every ${period} ms`;
  } else {
    streamError = `${err.message}; relisting every ${period} ms, retrying the stream in ${streamBackoffMs} ms`;
    streamRetry = setTimeout(() => {
      streamRetry = undefined;
      openStream();
      void serialRelist().catch(() => undefined);
    }, streamBackoffMs);
    streamBackoffMs = Math.min(streamBackoffMs * 2, 30_000);
  }
  postMode();
  // Whatever the stream would have said meanwhile, a relist says now.
  void serialRelist().catch(() => undefined);
}

/** Relists one at a time: a forced relist waits for one in flight, and a due one for it. */
let chain: Promise<void> = Promise.resolve();
function serialRelist(): Promise<void> {
  const p = chain.then(relist);
  chain = p.catch(() => undefined);
  return p;
}

function schedule(): void {
  if (!running) return;
  timer = setTimeout(() => {
    timer = undefined;
    void serialRelist().finally(() => schedule());
  }, stats.evented ? data.eventedRelistPeriodMs : period);
}

function health(thresholdMs = stats.evented ? EVENTED_UNHEALTHY_AFTER_MS : PLEG_UNHEALTHY_AFTER_MS): { ok: boolean; message?: string } {
  const age = Date.now() - (stats.lastRelistOkAt || started);
  return age <= thresholdMs ? { ok: true } : { ok: false, message: `PLEG is not healthy: pleg was last seen active ${Math.round(age / 1000)}s ago; threshold is ${Math.round(thresholdMs / 1000)}s` };
}

// The PLEG's commands, on this thread's bus (they arrive over the bridge from the main thread,
// or from anything joined to it).
bus.serve('pleg.relist', async () => {
  await serialRelist();
  return { pods: previous.size };
});
bus.serve('pleg.configure', (req) => {
  if (req.relistPeriodMs !== undefined) period = req.relistPeriodMs;
  return { relistPeriodMs: period };
});
bus.serve('pleg.stats', () => ({ ...stats }));
bus.serve('pleg.health', (req) => health(req.thresholdMs));

const control: PlegControl = {
  start() {
    if (running) return;
    running = true;
    // The stream first, then the first relist: nothing changes unseen in between.
    openStream();
    void serialRelist().finally(() => schedule());
  },
  stop() {
    running = false;
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (streamRetry) clearTimeout(streamRetry);
    streamRetry = undefined;
    stream?.cancel();
    stream = undefined;
  },
};

if (parentPort) expose(control, threadEndpoint(parentPort));
