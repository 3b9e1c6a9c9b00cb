// Eviction thresholds: the signals upstream's eviction manager knows, the settings that name them
// (evictionHard, evictionSoft, evictionSoftGracePeriod, evictionMinimumReclaim,
// evictionMaxPodGracePeriod, evictionPressureTransitionPeriod) parsed into thresholds, and the
// arithmetic of "is this threshold met". Pure; the eviction logic and node allocatable use it.
//
// Upstream's rules kept here: every operator is "less than"; a value is a quantity or a
// percentage of the signal's capacity; "0%" and "100%" switch a threshold off; a soft threshold
// needs a grace period; a minimum reclaim raises the bar a met threshold must clear to resolve.
import { parseQuantity, QuantityError } from '../api/quantity.js';
import { parseDuration } from '../config/duration.js';

/** The signals kubelet-ts observes, in upstream's names. */
export const SIGNALS = ['memory.available', 'nodefs.available', 'nodefs.inodesFree', 'imagefs.available', 'imagefs.inodesFree', 'pid.available'] as const;
export type Signal = (typeof SIGNALS)[number];

/** Upstream signals kubelet-ts accepts but does not observe (a warning names them). */
const UNOBSERVED_SIGNALS = new Set(['allocatableMemory.available']);

export type NodeConditionType = 'MemoryPressure' | 'DiskPressure' | 'PIDPressure';
/** The resource a signal starves: the "low on resource" of the eviction message and the ranking. */
export type StarvedResource = 'memory' | 'ephemeral-storage' | 'inodes' | 'pids';

export const SIGNAL_CONDITION: Readonly<Record<Signal, NodeConditionType>> = {
  'memory.available': 'MemoryPressure',
  'nodefs.available': 'DiskPressure',
  'nodefs.inodesFree': 'DiskPressure',
  'imagefs.available': 'DiskPressure',
  'imagefs.inodesFree': 'DiskPressure',
  'pid.available': 'PIDPressure',
};

export const SIGNAL_RESOURCE: Readonly<Record<Signal, StarvedResource>> = {
  'memory.available': 'memory',
  'nodefs.available': 'ephemeral-storage',
  'nodefs.inodesFree': 'inodes',
  'imagefs.available': 'ephemeral-storage',
  'imagefs.inodesFree': 'inodes',
  'pid.available': 'pids',
};

/** One signal as observed: how much is available of how much there is (bytes, inodes, PIDs). */
export interface SignalObservation {
  available: number;
  capacity: number;
}

/** A threshold's value: an absolute quantity (bytes, inodes, PIDs) or a share of capacity (0..1). */
export type ThresholdValue = { quantity: number } | { percentage: number };

export interface Threshold {
  signal: Signal;
  value: ThresholdValue;
  /** Hard thresholds act at once with no grace; soft ones after `gracePeriodMs` of being met. */
  hard: boolean;
  gracePeriodMs: number;
  /** How far past the threshold the signal must recover before the threshold is resolved. */
  minReclaim?: ThresholdValue;
}

export interface EvictionSettings {
  thresholds: Threshold[];
  /** Upper bound of a soft eviction's grace period, in seconds (0: the pod's own). */
  maxPodGracePeriodSeconds: number;
  /** How long a pressure condition stays True after its last threshold was met. */
  pressureTransitionPeriodMs: number;
}

/** The settings of KubeletConfig this module reads. */
export interface EvictionConfig {
  evictionHard: Record<string, string>;
  evictionSoft: Record<string, string>;
  evictionSoftGracePeriod: Record<string, string>;
  evictionMinimumReclaim: Record<string, string>;
  evictionMaxPodGracePeriod: number;
  evictionPressureTransitionPeriod: number;
}

function isSignal(s: string): s is Signal {
  return (SIGNALS as readonly string[]).includes(s);
}

/** A threshold value from its text, or undefined for "0%" / "100%" (upstream: switched off). */
export function parseThresholdValue(text: string): ThresholdValue | undefined {
  const t = text.trim();
  if (t.endsWith('%')) {
    if (t === '0%' || t === '100%') return undefined;
    const body = t.slice(0, -1);
    if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(body)) throw new Error(`"${text}" is not a percentage`);
    const p = Number(body);
    if (p < 0) throw new Error(`"${text}" must be >= 0%`);
    if (p > 100) throw new Error(`"${text}" must be <= 100%`);
    return { percentage: p / 100 };
  }
  let q: number;
  try {
    q = parseQuantity(t);
  } catch (err) {
    if (err instanceof QuantityError) throw new Error(`"${text}" is neither a quantity (100Mi, 1G, 1000) nor a percentage (10%)`, { cause: err });
    throw err;
  }
  if (!(q > 0)) throw new Error(`"${text}" must be positive`);
  return { quantity: q };
}

/** A threshold value as an amount of the signal's unit, given the signal's capacity. */
export function thresholdAmount(value: ThresholdValue, capacity: number): number {
  return 'quantity' in value ? value.quantity : value.percentage * capacity;
}

/** The value as settings write it (for messages and /configz-like output). */
export function formatThresholdValue(value: ThresholdValue): string {
  return 'quantity' in value ? String(value.quantity) : `${Math.round(value.percentage * 10000) / 100}%`;
}

/**
 * Whether `threshold` is met by `available` of `capacity`. With `enforceMinReclaim` (a threshold
 * already met), the bar is the threshold plus its minimum reclaim, so a signal hovering at the
 * line does not flap.
 */
export function thresholdMet(threshold: Threshold, available: number, capacity: number, enforceMinReclaim: boolean): boolean {
  let bar = thresholdAmount(threshold.value, capacity);
  if (enforceMinReclaim && threshold.minReclaim) bar += thresholdAmount(threshold.minReclaim, capacity);
  return available < bar;
}

function checkSignals(setting: string, map: Record<string, string>, problems: string[], warnings: string[]): [Signal, string][] {
  const out: [Signal, string][] = [];
  for (const [key, text] of Object.entries(map)) {
    const signal = key.trim();
    if (UNOBSERVED_SIGNALS.has(signal)) {
      warnings.push(`${setting}: signal ${signal} is not observed by kubelet-ts; its threshold ${text} has no effect`);
      continue;
    }
    if (!isSignal(signal)) {
      problems.push(`${setting}: unknown eviction signal "${signal}" (known: ${SIGNALS.join(', ')})`);
      continue;
    }
    out.push([signal, text]);
  }
  return out;
}

function parseThresholds(setting: string, map: Record<string, string>, hard: boolean, problems: string[], warnings: string[]): Threshold[] {
  const out: Threshold[] = [];
  for (const [signal, text] of checkSignals(setting, map, problems, warnings)) {
    try {
      const value = parseThresholdValue(text);
      if (value) out.push({ signal, value, hard, gracePeriodMs: 0 });
    } catch (err) {
      problems.push(`${setting}: ${signal}: ${(err as Error).message}`);
    }
  }
  return out;
}

/**
 * The eviction settings of a configuration, or the problems that make it unusable, each naming
 * its setting (the caller refuses to start on any). Warnings name what has no effect.
 */
export function parseEvictionSettings(cfg: EvictionConfig): { settings: EvictionSettings; problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const hard = parseThresholds('evictionHard', cfg.evictionHard, true, problems, warnings);
  const soft = parseThresholds('evictionSoft', cfg.evictionSoft, false, problems, warnings);

  const grace = new Map<Signal, number>();
  for (const [signal, text] of checkSignals('evictionSoftGracePeriod', cfg.evictionSoftGracePeriod, problems, warnings)) {
    try {
      const ms = parseDuration(text.trim());
      if (ms < 0) throw new Error(`"${text}" must not be negative`);
      grace.set(signal, ms);
    } catch (err) {
      problems.push(`evictionSoftGracePeriod: ${signal}: ${(err as Error).message}`);
    }
    if (!(signal in cfg.evictionSoft)) warnings.push(`evictionSoftGracePeriod: ${signal} has no threshold in evictionSoft; the grace period has no effect`);
  }
  for (const t of soft) {
    const ms = grace.get(t.signal);
    if (ms === undefined) {
      if (!problems.some((p) => p.startsWith(`evictionSoftGracePeriod: ${t.signal}:`)))
        problems.push(`evictionSoft: ${t.signal} needs a grace period in evictionSoftGracePeriod (--eviction-soft-grace-period ${t.signal}=1m30s)`);
    } else t.gracePeriodMs = ms;
  }

  const reclaim = new Map<Signal, ThresholdValue>();
  for (const [signal, text] of checkSignals('evictionMinimumReclaim', cfg.evictionMinimumReclaim, problems, warnings)) {
    try {
      const t = text.trim();
      // A minimum reclaim of zero is allowed (upstream's examples write "0Mi").
      if (/^0+(\.0*)?([KMGTPE]i?|[kmun])?%?$/.test(t)) continue;
      const v = parseThresholdValue(t);
      if (v) reclaim.set(signal, v);
    } catch (err) {
      problems.push(`evictionMinimumReclaim: ${signal}: ${(err as Error).message}`);
    }
  }
  const thresholds = [...hard, ...soft];
  for (const t of thresholds) {
    const r = reclaim.get(t.signal);
    if (r) t.minReclaim = r;
  }
  return {
    settings: {
      thresholds,
      maxPodGracePeriodSeconds: Math.max(0, cfg.evictionMaxPodGracePeriod),
      pressureTransitionPeriodMs: cfg.evictionPressureTransitionPeriod,
    },
    problems,
    warnings,
  };
}
