// The pod worker: one actor per pod UID, as upstream's podWorkers. This file holds its logic
// only, as a pure transition `(state, message) -> (state, effects)`; the runner that owns the
// mailbox, runs the effects (a sync on the pool, a timer) and feeds results back lives apart.
// Pure on purpose: the lifecycle rules below are checked by property tests on simulated time.
//
// Rules (upstream's, kept here):
//  - latest wins: an update that arrives while a sync runs replaces any pending one; the next
//    sync uses the newest pod; only the latest state is guaranteed to be synced;
//  - one piece of work in flight at a time (sync, or terminate);
//  - one-way lifecycle syncing -> terminating -> terminated; a terminated UID never runs again;
//  - a kill (pod removed, deleted, evicted) moves to terminating; its grace period can only go
//    down; a kill while a sync runs cancels that sync;
//  - a pod whose containers are all done for good (phase Succeeded/Failed) terminates on its own;
//  - requeue after a good sync: sync-frequency with jitter; after an error 10 s (jittered);
//    after "network not ready" 1 s; a runtime event for the pod resyncs it at once;
//  - a pod with activeDeadlineSeconds is woken up when its deadline comes (the sync reports
//    `deadlineAt`), so it fails on time and not at the next resync; past it, the pod fails
//    (Failed/DeadlineExceeded) and terminates;
//  - a kill may carry the terminal status the pod must report (an eviction: Failed/Evicted); the
//    first terminal status a pod gets is the one it keeps;
//  - a pod refused at admission never runs: its worker starts terminated, Failed with the reason.
// Besides the transition, the decisions the runner asks of the logic are here too, as pure
// functions: when the active deadline falls (activeDeadlineAt), whether a phase is final
// (isFinishedPhase), what a sync's result means for the requeue (syncOutcome, by the
// failure's reason, never by an error's text), whether a PLEG state is news (plegStateVerdict)
// and whether the cached runtime state may stand in for an inspection (CacheCurrency).
import type { Pod } from '../../api/core-v1.js';
import type { SandboxFailureReason } from '../../pods/sync.js';
import type { PodRuntimeState } from '../../pods/runtime-state.js';

export type Lifecycle = 'syncing' | 'terminating' | 'terminated';

export type SyncOutcome = 'ok' | 'error' | 'network-not-ready';

/** The status a pod reports once it failed for good before (or without) its containers saying so. */
export interface TerminalStatus {
  phase: 'Failed';
  reason: string;
  message: string;
  /**
   * The pod reports this status alone, with its start time: no container statuses, conditions or
   * IPs (upstream 1.20's killPodNow writes an eviction's status so, and `kubectl get pod` then
   * shows "0/1 Evicted"). Otherwise the status is computed from the runtime with this phase,
   * reason and message (the active deadline).
   */
  alone?: boolean;
}

/** A pod event the logic asks for (upstream reasons). */
export interface WorkerEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export const DEADLINE_EXCEEDED: TerminalStatus = {
  phase: 'Failed',
  reason: 'DeadlineExceeded',
  message: 'Pod was active on the node longer than the specified deadline',
};

export type PodWorkerMessage =
  | { type: 'update'; pod: Pod; at: number }
  | { type: 'kill'; gracePeriodSeconds?: number; reason: string; status?: TerminalStatus; at: number }
  /** Admission refused the pod (upstream rejectPod); only a worker that never worked takes it. */
  | { type: 'reject'; reason: string; message: string; at: number }
  /** The sync found the pod past its active deadline. */
  | { type: 'deadline-passed'; at: number }
  | { type: 'sync-done'; work: number; outcome: SyncOutcome; podFinished: boolean; at: number; retryAfterMs?: number; deadlineAt?: number }
  | { type: 'terminate-done'; work: number; ok: boolean; at: number }
  | { type: 'runtime-event'; at: number }
  | { type: 'tick'; at: number };

export type PodWorkerEffect =
  | { type: 'sync'; work: number; pod: Pod }
  | { type: 'terminate'; work: number; pod: Pod; gracePeriodSeconds: number; reason: string }
  | { type: 'cancel'; work: number }
  | { type: 'schedule'; at: number }
  | { type: 'terminated'; pod: Pod }
  | { type: 'event'; event: WorkerEvent };

export interface PodWorkerState {
  uid: string;
  lifecycle: Lifecycle;
  /** The newest desired pod. */
  pod: Pod;
  /** A newer pod (or a resync) waits for the work in flight. */
  pending: boolean;
  /** Id of the work in flight, or 0. */
  inFlight: number;
  inFlightKind: 'sync' | 'terminate' | undefined;
  /** Monotonic counter of work started; results of older work are ignored. */
  lastWork: number;
  gracePeriodSeconds: number | undefined;
  killReason: string;
  /** When the next periodic resync is due (epoch ms), or undefined. */
  requeueAt: number | undefined;
  consecutiveErrors: number;
  /** The pod failed for good (deadline, eviction, admission): the phase, reason and message it reports. */
  terminal: TerminalStatus | undefined;
}

export interface PodWorkerConfig {
  syncFrequencyMs: number;
  errorBackoffMs: number;
  networkNotReadyBackoffMs: number;
  /** Returns a number in [0, 1): jitter (injected so tests are deterministic). */
  random: () => number;
}

export const DEFAULT_POD_WORKER_CONFIG: PodWorkerConfig = {
  syncFrequencyMs: 60_000,
  errorBackoffMs: 10_000,
  networkNotReadyBackoffMs: 1_000,
  random: Math.random,
};

export function initialPodWorkerState(pod: Pod): PodWorkerState {
  return {
    uid: pod.metadata.uid ?? '',
    lifecycle: 'syncing',
    pod,
    pending: true,
    inFlight: 0,
    inFlightKind: undefined,
    lastWork: 0,
    gracePeriodSeconds: undefined,
    killReason: '',
    requeueAt: undefined,
    consecutiveErrors: 0,
    terminal: undefined,
  };
}

/** When the pod's activeDeadlineSeconds runs out: counted from its status startTime, else from when the worker first saw it (upstream). */
export function activeDeadlineAt(pod: Pod, startTime: string | undefined, firstSeen: number): number | undefined {
  const seconds = pod.spec.activeDeadlineSeconds;
  if (seconds === undefined || seconds <= 0) return undefined;
  const start = startTime ? Date.parse(startTime) : firstSeen;
  return (Number.isFinite(start) ? start : firstSeen) + seconds * 1000;
}

/** A pod in this phase is done for good: its worker terminates it. */
export function isFinishedPhase(phase: string | undefined): boolean {
  return phase === 'Succeeded' || phase === 'Failed';
}

/** What a sync that ran on the pool reported, for its outcome. */
export interface SyncReport {
  sandboxFailure?: { reason: SandboxFailureReason } | undefined;
  killErrors: readonly string[];
  /** The waiting reasons of the containers that did not start (CrashLoopBackOff, ErrImagePull, ...). */
  waitingReasons: Iterable<string>;
}

/** Backoffs are waits, not errors: the sync did all it could. */
const WAITING_NOT_FAILING = new Set(['CrashLoopBackOff', 'ImagePullBackOff']);

/** A sync's outcome: network-not-ready (retry in 1 s), error (10 s) or ok (the resync period). */
export function syncOutcome(r: SyncReport): SyncOutcome {
  if (r.sandboxFailure) return r.sandboxFailure.reason === 'network-not-ready' ? 'network-not-ready' : 'error';
  if (r.killErrors.length > 0) return 'error';
  for (const reason of r.waitingReasons) if (!WAITING_NOT_FAILING.has(reason)) return 'error';
  return 'ok';
}

/** The grace period a kill uses: the override, else the pod's deletion grace, else its spec (30 s). */
function podGrace(pod: Pod): number {
  return pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
}

function jitter(ms: number, cfg: PodWorkerConfig, factor: number): number {
  return Math.round(ms * (1 + factor * cfg.random()));
}

/** Starts the next piece of work if nothing runs and something is pending. */
function pump(s: PodWorkerState, effects: PodWorkerEffect[]): PodWorkerState {
  if (s.inFlight !== 0 || !s.pending || s.lifecycle === 'terminated') return s;
  const work = s.lastWork + 1;
  if (s.lifecycle === 'syncing') {
    effects.push({ type: 'sync', work, pod: s.pod });
    return { ...s, pending: false, inFlight: work, inFlightKind: 'sync', lastWork: work, requeueAt: undefined };
  }
  const grace = s.gracePeriodSeconds ?? podGrace(s.pod);
  effects.push({ type: 'terminate', work, pod: s.pod, gracePeriodSeconds: grace, reason: s.killReason });
  return { ...s, pending: false, inFlight: work, inFlightKind: 'terminate', lastWork: work, gracePeriodSeconds: grace, requeueAt: undefined };
}

function startTerminating(s: PodWorkerState, reason: string, grace: number | undefined, effects: PodWorkerEffect[], status?: TerminalStatus): PodWorkerState {
  let next: PodWorkerState = { ...s };
  if (status && !next.terminal) next = { ...next, terminal: status };
  if (s.lifecycle === 'syncing') {
    next = { ...next, lifecycle: 'terminating', killReason: reason, pending: true };
    if (s.inFlightKind === 'sync') {
      // A kill cancels the running sync; its result will be ignored.
      effects.push({ type: 'cancel', work: s.inFlight });
      next = { ...next, inFlight: 0, inFlightKind: undefined };
    }
  }
  if (grace !== undefined && (next.gracePeriodSeconds === undefined || grace < next.gracePeriodSeconds)) {
    const shorter = next.gracePeriodSeconds !== undefined;
    next = { ...next, gracePeriodSeconds: Math.max(0, grace) };
    if (shorter && next.inFlightKind === 'terminate') {
      // A shorter grace period restarts the termination with it.
      effects.push({ type: 'cancel', work: next.inFlight });
      next = { ...next, inFlight: 0, inFlightKind: undefined, pending: true };
    }
  }
  return next;
}

export function podWorkerTransition(
  s: PodWorkerState,
  m: PodWorkerMessage,
  cfg: PodWorkerConfig = DEFAULT_POD_WORKER_CONFIG,
): { state: PodWorkerState; effects: PodWorkerEffect[] } {
  const effects: PodWorkerEffect[] = [];
  let next = s;
  switch (m.type) {
    case 'update': {
      if (s.lifecycle === 'terminated') break; // a terminated UID never runs again
      next = { ...s, pod: m.pod, pending: true };
      if (m.pod.metadata.deletionTimestamp) next = startTerminating(next, 'deleted', podGrace(m.pod), effects);
      break;
    }
    case 'kill':
      if (s.lifecycle === 'terminated') break;
      next = startTerminating(s, m.reason, m.gracePeriodSeconds, effects, m.status);
      break;
    case 'reject':
      if (s.lastWork !== 0 || s.lifecycle !== 'syncing') break; // it ran: not admission's to refuse now
      next = {
        ...s,
        lifecycle: 'terminated',
        pending: false,
        requeueAt: undefined,
        terminal: { phase: 'Failed', reason: m.reason, message: `Pod ${m.message}` },
      };
      effects.push({ type: 'event', event: { type: 'Warning', reason: m.reason, message: m.message } });
      break;
    case 'deadline-passed':
      if (s.lifecycle === 'terminated' || s.terminal) break;
      next = { ...s, terminal: DEADLINE_EXCEEDED };
      effects.push({ type: 'event', event: { type: 'Normal', reason: DEADLINE_EXCEEDED.reason, message: DEADLINE_EXCEEDED.message } });
      break;
    case 'sync-done': {
      if (m.work !== s.inFlight || s.inFlightKind !== 'sync') break; // cancelled or stale
      next = { ...s, inFlight: 0, inFlightKind: undefined };
      if (m.podFinished) {
        next = startTerminating(next, 'completed', undefined, effects);
        break;
      }
      if (m.retryAfterMs !== undefined) {
        // The sync knows when it can make progress (a restart backoff ends): come back then.
        next = { ...next, consecutiveErrors: m.outcome === 'ok' ? 0 : s.consecutiveErrors + 1, requeueAt: m.at + Math.max(0, m.retryAfterMs) };
      } else if (m.outcome === 'ok') {
        next = { ...next, consecutiveErrors: 0, requeueAt: m.at + jitter(cfg.syncFrequencyMs, cfg, 0.5) };
      } else {
        const base = m.outcome === 'network-not-ready' ? cfg.networkNotReadyBackoffMs : cfg.errorBackoffMs;
        next = { ...next, consecutiveErrors: s.consecutiveErrors + 1, requeueAt: m.at + jitter(base, cfg, 0.5) };
      }
      // The active deadline comes before the next resync: wake up for it.
      if (m.deadlineAt !== undefined && next.requeueAt !== undefined && m.deadlineAt < next.requeueAt)
        next = { ...next, requeueAt: Math.max(m.at, m.deadlineAt) };
      if (!next.pending && next.requeueAt !== undefined) effects.push({ type: 'schedule', at: next.requeueAt });
      break;
    }
    case 'terminate-done': {
      if (m.work !== s.inFlight || s.inFlightKind !== 'terminate') break;
      next = { ...s, inFlight: 0, inFlightKind: undefined };
      if (m.ok) {
        next = { ...next, lifecycle: 'terminated', pending: false, requeueAt: undefined };
        effects.push({ type: 'terminated', pod: next.pod });
      } else {
        // Retry the kill after the error backoff; the pod stays terminating.
        next = { ...next, consecutiveErrors: s.consecutiveErrors + 1, requeueAt: m.at + jitter(cfg.errorBackoffMs, cfg, 0.5) };
        effects.push({ type: 'schedule', at: next.requeueAt ?? m.at });
      }
      break;
    }
    case 'runtime-event':
      if (s.lifecycle === 'terminated') break;
      next = { ...s, pending: true };
      break;
    case 'tick':
      if (s.lifecycle === 'terminated' || s.requeueAt === undefined) break;
      if (m.at < s.requeueAt) {
        // Early: Node's timers may fire a millisecond before Date.now() reaches their time.
        // Without a new timer the pod would wait for the next event, maybe forever.
        effects.push({ type: 'schedule', at: s.requeueAt });
        break;
      }
      next = { ...s, pending: true, requeueAt: undefined };
      break;
  }
  next = pump(next, effects);
  return { state: next, effects };
}

// ---- whether the runtime-state cache shows this worker's changes ---------------------------
// A sync may skip its pre-sync inspection (upstream's PLEG cache GetNewerThan) only when the
// cached state shows every change this worker made: no change task (sync or kill) runs now,
// and the state came from an inspection sent after the last one ended, or from a relist
// inspection observed after it (an event-built state is not enough: it reflects one event).

export interface CacheCurrency {
  /** Change tasks of this pod on the pool now (cancelled ones included, until they end). */
  changing: number;
  /** When the last of them ended (epoch ms). */
  changedAt: number;
  /** The cached state shows every change. */
  current: boolean;
}

export const freshCacheCurrency: CacheCurrency = { changing: 0, changedAt: 0, current: false };

/** A change task went to the pool: the cache is behind until something reads after it. */
export function changeStarted(c: CacheCurrency): CacheCurrency {
  return { changing: c.changing + 1, changedAt: c.changedAt, current: false };
}

export function changeEnded(c: CacheCurrency, at: number): CacheCurrency {
  return { changing: Math.max(0, c.changing - 1), changedAt: at, current: c.current };
}

/** An inspection came back; `sentClean`: no change task ran when it was sent. */
export function inspected(c: CacheCurrency, sentClean: boolean): CacheCurrency {
  return sentClean && c.changing === 0 ? { ...c, current: true } : c;
}

/** The PLEG delivered a state that replaced the cached one. */
export function plegStateArrived(c: CacheCurrency, state: { source?: string; observedAt?: number }): CacheCurrency {
  return state.source !== 'event' && c.changing === 0 && (state.observedAt ?? 0) > c.changedAt ? { ...c, current: true } : c;
}

/** Whether a sync may use the cached state instead of inspecting. */
export function cacheUsable(c: CacheCurrency): boolean {
  return c.current && c.changing === 0;
}

/** What a worker reacts to in a runtime state: which containers and sandboxes exist, in which state. */
export function runtimeDigest(s: PodRuntimeState): string {
  let d = '';
  for (const c of s.containers) d += `${c.id}:${c.state};`;
  for (const b of s.sandboxes) d += `${b.id}:${b.ready ? 1 : 0};`;
  return d;
}

/**
 * A PLEG state against the cached one: a state observed before the cached one (a sync's own
 * read-back is newer) is stale and must not replace it; a state whose content differs counts as
 * a change even when the PLEG saw no event (its first relist after a restart is a baseline).
 */
export function plegStateVerdict(prev: PodRuntimeState | undefined, next: PodRuntimeState, changed: boolean): { stale: boolean; changed: boolean } {
  const stale = next.observedAt !== undefined && prev?.observedAt !== undefined && next.observedAt < prev.observedAt;
  return { stale, changed: changed || (prev !== undefined && !stale && runtimeDigest(prev) !== runtimeDigest(next)) };
}
