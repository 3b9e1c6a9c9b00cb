// The eviction watcher's logic: from one observation of the node's signals and its pods, which
// thresholds are met, which pressure conditions the node reports, whether node-level resources
// are reclaimed first, and which pod is evicted. Pure: state and a message in, state and effects
// out, the clock in the messages. The actor on its own thread reads the stats and carries out
// the effects (conditions on the bus, container and image GC, the kill).
//
// As upstream's eviction manager (synchronize), one round:
//  1. a threshold is met when its signal's available amount is below it; one met last round stays
//     met until the signal clears the threshold plus its minimum reclaim;
//  2. a pressure condition is reported from the first round a threshold of its kind is met
//     (soft ones too) until no such threshold has been met for the pressure transition period;
//  3. a threshold acts when it is hard, or soft and met for its whole grace period; memory
//     thresholds act before the others;
//  4. for a disk signal, node-level reclaim (dead containers, unused images) comes first, and no
//     pod is evicted when it brought the signal back past threshold and minimum reclaim;
//  5. otherwise the pods are ranked for the signal and the first one that is not critical is
//     evicted, hard thresholds with no grace, soft ones with the pod's grace capped by
//     evictionMaxPodGracePeriod; one pod per round, and no new one while a kill is under way.
// A signal whose source could not be read is unknown: it meets no threshold, so it never evicts.
import { admitUnderPressure, EVICTED_REASON, type PressureAdmitResult } from '../../eviction/admission.js';
import { evictionMessage, rankForEviction, type EvictionCandidate } from '../../eviction/ranking.js';
import {
  SIGNAL_CONDITION,
  SIGNAL_RESOURCE,
  thresholdAmount,
  thresholdMet,
  type EvictionSettings,
  type NodeConditionType,
  type Signal,
  type SignalObservation,
  type StarvedResource,
  type Threshold,
} from '../../eviction/thresholds.js';
import type { Pod } from '../../api/core-v1.js';

/** How long one eviction may take before the watcher picks another victim (upstream's pod cleanup wait). */
export const EVICTION_WAIT_MS = 30_000;
/** The conditions in the order upstream lists them. */
const CONDITION_ORDER: readonly NodeConditionType[] = ['MemoryPressure', 'DiskPressure', 'PIDPressure'];

export interface Observation {
  at: number;
  signals: Partial<Record<Signal, SignalObservation>>;
  /** Signals whose source could not be read this round, with why. */
  unknown: Partial<Record<Signal, string>>;
  /** imagefs on a filesystem of its own (not nodefs). */
  imageFsDedicated: boolean;
  /** The pods that may be evicted (admitted and not terminated). */
  pods: EvictionCandidate[];
}

export interface EvictionState {
  /** Indexes into settings.thresholds of the thresholds met last round. */
  met: number[];
  /** Threshold index -> when it was first seen met in its current run. */
  firstObservedAt: Record<number, number>;
  /** Condition -> the last round a threshold of its kind was met. */
  conditionLastObservedAt: Partial<Record<NodeConditionType, number>>;
  /** The pressure conditions the node reports now. */
  conditions: NodeConditionType[];
  /** Signals unknown at the last round (a signal is logged once per unknown spell). */
  unknown: Signal[];
  /** A node-level reclaim asked for, waiting for its result. */
  reclaiming?: { threshold: number; since: number };
  /** A pod being evicted, waiting for its kill to end. */
  evicting?: { uid: string; since: number };
  evictions: number;
}

export type EvictionMessage =
  | { type: 'observe'; observation: Observation }
  /** After a reclaim effect: the node observed again. */
  | { type: 'reclaimed'; observation: Observation; freedBytes: number; error?: string }
  | { type: 'evicted'; uid: string; at: number; error?: string };

export interface ThresholdReport {
  signal: Signal;
  hard: boolean;
  /** The threshold as an amount (bytes, inodes, PIDs) at this capacity. */
  threshold: number;
  available: number;
  capacity: number;
}

export type EvictionEffect =
  | { type: 'threshold-met'; report: ThresholdReport; gracePeriodMs: number }
  | { type: 'threshold-resolved'; signal: Signal; hard: boolean }
  | { type: 'conditions'; conditions: NodeConditionType[]; added: NodeConditionType[]; removed: NodeConditionType[] }
  | { type: 'signal-unknown'; signal: Signal; reason: string }
  | { type: 'signal-known'; signal: Signal }
  | { type: 'reclaim'; signal: Signal; resource: StarvedResource }
  | { type: 'reclaim-sufficient'; signal: Signal; freedBytes: number }
  | {
      type: 'evict';
      uid: string;
      namespace: string;
      name: string;
      signal: Signal;
      hard: boolean;
      gracePeriodSeconds: number;
      /** The terminal status the pod reports and the Evicted event's text. */
      status: { phase: 'Failed'; reason: string; message: string };
      annotations: Record<string, string>;
      report: ThresholdReport;
    }
  | { type: 'no-victim'; signal: Signal; candidates: number };

export function initialEvictionState(): EvictionState {
  return { met: [], firstObservedAt: {}, conditionLastObservedAt: {}, conditions: [], unknown: [], evictions: 0 };
}

function report(t: Threshold, obs: SignalObservation): ThresholdReport {
  return { signal: t.signal, hard: t.hard, threshold: thresholdAmount(t.value, obs.capacity), available: obs.available, capacity: obs.capacity };
}

/** Upstream's byEvictionPriority: memory thresholds first, the rest in the order configured. */
function actOrder(settings: EvictionSettings, indexes: number[]): number[] {
  const isMemory = (i: number): boolean => SIGNAL_RESOURCE[settings.thresholds[i]?.signal ?? 'memory.available'] === 'memory';
  return [...indexes].sort((a, b) => Number(isMemory(b)) - Number(isMemory(a)) || a - b);
}

/** Whether a disk signal has node-level reclaim (with a dedicated imagefs, nodefs has none). */
function hasNodeReclaim(signal: Signal, imageFsDedicated: boolean): boolean {
  if (signal.startsWith('imagefs.')) return true;
  if (signal.startsWith('nodefs.')) return !imageFsDedicated;
  return false;
}

export class EvictionLogic {
  constructor(readonly settings: EvictionSettings) {}

  /**
   * Whether these signals (a quick read between rounds, possibly of some signals only) meet a
   * different set of thresholds than the last round did: then a round should run now.
   */
  changesMet(state: EvictionState, signals: Observation['signals'], unknown: Observation['unknown']): boolean {
    const known = (i: number): boolean => {
      const t = this.settings.thresholds[i];
      return t !== undefined && signals[t.signal] !== undefined;
    };
    const now = this.metNow(state, { signals, unknown }).filter(known);
    const before = state.met.filter(known);
    return now.length !== before.length || now.some((i) => !before.includes(i));
  }

  /** Thresholds met by an observation, the previously met ones held to their minimum reclaim. */
  private metNow(state: EvictionState, obs: Pick<Observation, 'signals' | 'unknown'>): number[] {
    const out: number[] = [];
    this.settings.thresholds.forEach((t, i) => {
      const o = obs.signals[t.signal];
      if (!o || obs.unknown[t.signal] !== undefined) return;
      if (thresholdMet(t, o.available, o.capacity, state.met.includes(i))) out.push(i);
    });
    return out;
  }

  handle(state: EvictionState, msg: EvictionMessage): { state: EvictionState; effects: EvictionEffect[] } {
    switch (msg.type) {
      case 'observe':
        return this.observe(state, msg.observation);
      case 'reclaimed':
        return this.reclaimed(state, msg);
      case 'evicted': {
        if (state.evicting?.uid !== msg.uid) return { state, effects: [] };
        const { evicting: _done, ...rest } = state;
        return { state: rest, effects: [] };
      }
    }
  }

  private observe(prev: EvictionState, obs: Observation): { state: EvictionState; effects: EvictionEffect[] } {
    const effects: EvictionEffect[] = [];
    const at = obs.at;

    // Unknown signals: said once when they go unknown, once when they come back.
    const unknown = (Object.keys(obs.unknown) as Signal[]).sort();
    for (const s of unknown) if (!prev.unknown.includes(s)) effects.push({ type: 'signal-unknown', signal: s, reason: obs.unknown[s] ?? '' });
    for (const s of prev.unknown) if (!unknown.includes(s)) effects.push({ type: 'signal-known', signal: s });

    const met = this.metNow(prev, obs);
    const firstObservedAt: Record<number, number> = {};
    for (const i of met) firstObservedAt[i] = prev.firstObservedAt[i] ?? at;
    for (const i of met) {
      const t = this.settings.thresholds[i];
      const o = t && obs.signals[t.signal];
      if (t && o && !prev.met.includes(i)) effects.push({ type: 'threshold-met', report: report(t, o), gracePeriodMs: t.gracePeriodMs });
    }
    for (const i of prev.met) {
      const t = this.settings.thresholds[i];
      if (t && !met.includes(i)) effects.push({ type: 'threshold-resolved', signal: t.signal, hard: t.hard });
    }

    // Conditions: observed now, held for the transition period after the last observation.
    const conditionLastObservedAt = { ...prev.conditionLastObservedAt };
    for (const i of met) {
      const t = this.settings.thresholds[i];
      if (t) conditionLastObservedAt[SIGNAL_CONDITION[t.signal]] = at;
    }
    const conditions = CONDITION_ORDER.filter((c) => {
      const last = conditionLastObservedAt[c];
      return last !== undefined && at - last < this.settings.pressureTransitionPeriodMs;
    });
    for (const c of CONDITION_ORDER) {
      const last = conditionLastObservedAt[c];
      if (last !== undefined && !conditions.includes(c)) delete conditionLastObservedAt[c];
    }
    const added = conditions.filter((c) => !prev.conditions.includes(c));
    const removed = prev.conditions.filter((c) => !conditions.includes(c));
    if (added.length > 0 || removed.length > 0) effects.push({ type: 'conditions', conditions, added, removed });

    let state: EvictionState = { ...prev, met, firstObservedAt, conditionLastObservedAt, conditions, unknown };
    // A kill under way, or a reclaim not answered, holds the next decision (a kill past its wait does not).
    if (state.evicting && at - state.evicting.since < EVICTION_WAIT_MS) return { state, effects };
    if (state.evicting) {
      const { evicting: _stale, ...rest } = state;
      state = rest;
    }
    if (state.reclaiming && at - state.reclaiming.since < EVICTION_WAIT_MS) return { state, effects };

    const acting = met.filter((i) => {
      const t = this.settings.thresholds[i];
      return t !== undefined && (t.hard || at - (firstObservedAt[i] ?? at) >= t.gracePeriodMs);
    });
    const first = actOrder(this.settings, acting)[0];
    if (first === undefined) {
      const { reclaiming: _none, ...rest } = state;
      return { state: rest, effects };
    }
    const t = this.settings.thresholds[first];
    if (!t) return { state, effects };
    if (hasNodeReclaim(t.signal, obs.imageFsDedicated)) {
      effects.push({ type: 'reclaim', signal: t.signal, resource: SIGNAL_RESOURCE[t.signal] });
      return { state: { ...state, reclaiming: { threshold: first, since: at } }, effects };
    }
    return this.evict({ ...state }, first, obs, effects);
  }

  private reclaimed(prev: EvictionState, msg: Extract<EvictionMessage, { type: 'reclaimed' }>): { state: EvictionState; effects: EvictionEffect[] } {
    const pending = prev.reclaiming;
    if (!pending) return { state: prev, effects: [] };
    const { reclaiming: _done, ...state } = prev;
    const t = this.settings.thresholds[pending.threshold];
    const o = t && msg.observation.signals[t.signal];
    if (!t || !o || msg.observation.unknown[t.signal] !== undefined) return { state, effects: [] };
    // Upstream: enough when the threshold, held to its minimum reclaim, is no longer met.
    if (!thresholdMet(t, o.available, o.capacity, true))
      return { state, effects: [{ type: 'reclaim-sufficient', signal: t.signal, freedBytes: msg.freedBytes }] };
    return this.evict(state, pending.threshold, msg.observation, []);
  }

  private evict(state: EvictionState, index: number, obs: Observation, effects: EvictionEffect[]): { state: EvictionState; effects: EvictionEffect[] } {
    const t = this.settings.thresholds[index];
    const o = t && obs.signals[t.signal];
    if (!t || !o) return { state, effects };
    const ranked = rankForEviction(obs.pods, t.signal, obs.imageFsDedicated);
    const victim = ranked.find((p) => !p.critical);
    if (!victim) {
      effects.push({ type: 'no-victim', signal: t.signal, candidates: obs.pods.length });
      return { state, effects };
    }
    const resource = SIGNAL_RESOURCE[t.signal];
    const { message, annotations } = evictionMessage(victim, resource);
    const max = this.settings.maxPodGracePeriodSeconds;
    const grace = t.hard ? 0 : max > 0 ? Math.min(victim.terminationGracePeriodSeconds, max) : victim.terminationGracePeriodSeconds;
    effects.push({
      type: 'evict',
      uid: victim.uid,
      namespace: victim.namespace,
      name: victim.name,
      signal: t.signal,
      hard: t.hard,
      gracePeriodSeconds: grace,
      status: { phase: 'Failed', reason: EVICTED_REASON, message },
      annotations,
      report: report(t, o),
    });
    return { state: { ...state, evicting: { uid: victim.uid, since: obs.at }, evictions: state.evictions + 1 }, effects };
  }

  /** Admission under the conditions of `state`. */
  admit(state: EvictionState, pod: Pod): PressureAdmitResult {
    return admitUnderPressure(pod, state.conditions);
  }
}
