// The commands of the bus: every request an actor answers, its body and its reply, as Topics
// (messages.ts) are for events. An actor's whole control surface is here, whatever carries it to
// the actor's thread underneath: the kubelet, a test, the NATS bridge and a chaos driver all
// reach an actor the same way, with `bus.call(name, body)`, and the actor answers with
// `bus.serve(name, handler)`.
//
// A request body arriving from elsewhere is checked against REQUEST_SCHEMA before the handler
// sees it (a wrong body is refused with KTS_BUS_INVALID_REQUEST): the compiler insists on an
// entry for every request and every field of its body. Replies are plain data too.
//
// Adding a request: add it to Requests and REQUEST_SCHEMA; `external: true` there lets the NATS
// bridge take it in from the network (read-only and idempotent commands only, for now).
import type { ProbePodTarget } from '../probes/spec.js';
import type { EvictionCandidate } from '../eviction/ranking.js';
import type { Summary } from '../stats/summary.js';
import { kindOf, shapeProblem as laxOrStrict, type FieldSpec } from './validate.js';

// Request bodies are checked strictly: a handler reads every field, and an unknown one is a mistake.
const shapeProblem = (v: unknown, shape: Record<string, FieldSpec>, what: string): string | undefined => laxOrStrict(v, shape, what, 'strict');

/** An actor's health as /healthz reports it. */
export interface ActorHealth {
  ok: boolean;
  message?: string;
}

/** What the PLEG thread counts (pleg.stats). */
export interface PlegStats {
  relists: number;
  failedRelists: number;
  lastRelistOkAt: number;
  lastRelistMs: number;
  pods: number;
  inspectRetries: number;
  /** The event stream is up: states come from events, relists are the safety net. */
  evented: boolean;
  events: number;
  /** Events older than what the PLEG already held (queued by the runtime before a reconnect), dropped. */
  staleEvents: number;
  streamFailures: number;
}

/** The probe schedule's counts. */
export interface SchedulerStats {
  workers: number;
  running: number;
  waiting: number;
  started: number;
  completed: number;
  /** Ticks skipped because the previous run or wait of the same probe was not over. */
  overrun: number;
  /** Ticks missed because the runner woke after the next tick was already due. */
  missed: number;
}

/** What the probe thread counts (probes.stats). */
export interface ProbeThreadStats extends SchedulerStats {
  /** Probe start lateness (start - due), ms, over the samples since the last reset. */
  lateness: { count: number; p50: number; p99: number; max: number };
  /** The probe thread's event-loop delay, ms. */
  eventLoopDelay: { p50: number; p99: number; max: number };
  /** Probes completed per second since the last reset. */
  probesPerSecond: number;
}

/** The one-way lifecycle of a pod worker (upstream's pod_workers.go). */
export type PodWorkerLifecycle = 'syncing' | 'terminating' | 'terminated';

/** One pod worker as pods.list reports it. */
export interface PodWorkerSummary {
  uid: string;
  namespace: string;
  name: string;
  lifecycle: PodWorkerLifecycle;
  phase?: string;
}

export interface SyncPoolStats {
  threads: number;
  /** Tasks taken and not yet settled (those waiting for a lane or a thread included). */
  running: number;
  /** Tasks waiting for a lane slot or for a thread. */
  queued: number;
  /** Tasks holding a slot of the sync lane (sync, inspect, gc) and of the kill lane (kill, remove). */
  syncLane: number;
  killLane: number;
}

/** The eviction watcher's view (eviction.state, eviction.observe). */
export interface EvictionSummary {
  /** The pressure conditions the node reports now. */
  conditions: string[];
  /** Thresholds met at the last round, with when each was first seen met. */
  met: { signal: string; hard: boolean; since: number }[];
  /** The last round's signals (available, capacity) and the ones it could not read. */
  signals: Record<string, { available: number; capacity: number }>;
  unknown: Record<string, string>;
  lastObservedAt: number;
  rounds: number;
  /** How long the last round's reads took, ms. */
  lastRoundMs: number;
  evictions: number;
  /** The UID of the pod being evicted now, if any. */
  evicting?: string;
  pods: number;
}

type Empty = Record<string, never>;

export interface Requests {
  /** Relist the runtime now (after a fault, or to see a change at once); replies with the pods seen. */
  'pleg.relist': { req: Empty; res: { pods: number } };
  /** Change the relist period (ms, > 0); replies with the period in force. */
  'pleg.configure': { req: { relistPeriodMs?: number }; res: { relistPeriodMs: number } };
  'pleg.stats': { req: Empty; res: PlegStats };
  /** The thread's own view: healthy while the last good relist is younger than the threshold. */
  'pleg.health': { req: { thresholdMs?: number }; res: ActorHealth };
  /** A pod's running containers with probes, in full; no containers forgets the pod. */
  'probes.set-pod': { req: { target: ProbePodTarget }; res: Empty };
  'probes.remove-pod': { req: { uid: string }; res: Empty };
  /** Every pod at once (a new thread is told this first); pods not named are forgotten. */
  'probes.set-pods': { req: { targets: ProbePodTarget[] }; res: { pods: number } };
  'probes.stats': { req: Empty; res: ProbeThreadStats };
  'probes.reset-stats': { req: Empty; res: Empty };
  /** prober_* metrics in the Prometheus text format. */
  'probes.metrics': { req: Empty; res: { text: string } };
  /** Every pod worker: UID, name, lifecycle and phase. */
  'pods.list': { req: Empty; res: { pods: PodWorkerSummary[] } };
  /** One pod worker's whole state (null: no worker for that UID). */
  'pods.describe': { req: { uid: string }; res: { worker: Record<string, unknown> | null } };
  'sync-pool.stats': { req: Empty; res: SyncPoolStats };
  /** The pods the eviction watcher may rank (a new thread is told this first); pods not named are forgotten. */
  'eviction.set-pods': { req: { pods: EvictionCandidate[] }; res: { pods: number } };
  'eviction.set-pod': { req: { pod: EvictionCandidate }; res: Empty };
  'eviction.remove-pod': { req: { uid: string }; res: Empty };
  /** Read the signals and decide now (a test, a chaos driver, a threshold notifier), replying with the result. */
  'eviction.observe': { req: Empty; res: EvictionSummary };
  'eviction.state': { req: Empty; res: EvictionSummary };
  /** The pod an eviction named has terminated (or could not be killed: `error`): the watcher may pick the next. */
  'eviction.evicted': { req: { uid: string; error?: string }; res: Empty };
  /** The node-level reclaim it asked for is done: the watcher reads the signals again and decides. */
  'eviction.reclaimed': { req: { freedBytes: number; error?: string }; res: Empty };
  /** The stats summary (stats/v1alpha1) of the last housekeeping round; `error` when the container figures could not be read. */
  'stats.summary': { req: { onlyCpuAndMemory?: boolean }; res: { summary: Summary; error?: string } };
  /** Every actor's health, as the kubelet's /healthz checks see it. */
  'actors.health': { req: Empty; res: { actors: ({ actor: string } & ActorHealth)[] } };
}

export type RequestName = keyof Requests;
export type RequestOf<K extends RequestName> = Requests[K]['req'];
export type ReplyOf<K extends RequestName> = Requests[K]['res'];

type BodyShape<B> = { [K in keyof B]-?: FieldSpec };

export interface RequestSpec<K extends RequestName> {
  body: BodyShape<RequestOf<K>>;
  /** Further checks on a body of the right shape (a range, a non-empty name). */
  check?: (body: RequestOf<K>) => string | undefined;
  /** The NATS bridge may take it in from the network. */
  external: boolean;
}

const positive =
  (field: string) =>
  (v: number | undefined): string | undefined =>
    v === undefined || (Number.isFinite(v) && v > 0) ? undefined : `${field} must be a number above 0`;
const nonEmpty = (v: string): string | undefined => (v.length > 0 ? undefined : 'uid must not be empty');

export const REQUEST_SCHEMA: { [K in RequestName]: RequestSpec<K> } = {
  'pleg.relist': { body: {}, external: true },
  'pleg.configure': { body: { relistPeriodMs: 'number?' }, check: (b) => positive('relistPeriodMs')(b.relistPeriodMs), external: false },
  'pleg.stats': { body: {}, external: true },
  'pleg.health': { body: { thresholdMs: 'number?' }, check: (b) => positive('thresholdMs')(b.thresholdMs), external: true },
  'probes.set-pod': { body: { target: 'object' }, check: (b) => probeTargetProblem(b.target, 'target'), external: false },
  'probes.remove-pod': { body: { uid: 'string' }, check: (b) => nonEmpty(b.uid), external: false },
  'probes.set-pods': {
    body: { targets: 'array' },
    check: (b) => b.targets.map((t, i) => probeTargetProblem(t, `targets[${i}]`)).find((p) => p !== undefined),
    external: false,
  },
  'probes.stats': { body: {}, external: true },
  'probes.reset-stats': { body: {}, external: false },
  'probes.metrics': { body: {}, external: true },
  'pods.list': { body: {}, external: true },
  'pods.describe': { body: { uid: 'string' }, check: (b) => nonEmpty(b.uid), external: true },
  'sync-pool.stats': { body: {}, external: true },
  'eviction.set-pods': {
    body: { pods: 'array' },
    check: (b) => b.pods.map((p, i) => candidateProblem(p, `pods[${i}]`)).find((x) => x !== undefined),
    external: false,
  },
  'eviction.set-pod': { body: { pod: 'object' }, check: (b) => candidateProblem(b.pod, 'pod'), external: false },
  'eviction.remove-pod': { body: { uid: 'string' }, check: (b) => nonEmpty(b.uid), external: false },
  'eviction.observe': { body: {}, external: false },
  'eviction.state': { body: {}, external: true },
  'eviction.evicted': { body: { uid: 'string', error: 'string?' }, check: (b) => nonEmpty(b.uid), external: false },
  'eviction.reclaimed': {
    body: { freedBytes: 'number', error: 'string?' },
    check: (b) => (b.freedBytes >= 0 ? undefined : 'freedBytes must not be negative'),
    external: false,
  },
  'stats.summary': { body: { onlyCpuAndMemory: 'boolean?' }, external: true },
  'actors.health': { body: {}, external: true },
};

export const REQUESTS = Object.keys(REQUEST_SCHEMA) as RequestName[];

export function isRequestName(x: string): x is RequestName {
  return Object.hasOwn(REQUEST_SCHEMA, x);
}

// A probe target is what the probe thread runs probes from: its containers and probes are read
// on every tick, so the whole shape is checked (the handlers are checked where they run).
const TARGET_SHAPE: Record<string, FieldSpec> = { uid: 'string', name: 'string', namespace: 'string', containers: 'array' };
const TARGET_CONTAINER_SHAPE: Record<string, FieldSpec> = { name: 'string', containerId: 'string', startedAt: 'number', probes: 'array' };
const PROBE_SHAPE: Record<string, FieldSpec> = { kind: 'string', handler: 'object', timing: 'object' };
const PROBE_KINDS = new Set(['liveness', 'readiness', 'startup']);

function probeTargetProblem(t: unknown, what: string): string | undefined {
  const bad = shapeProblem(t, TARGET_SHAPE, what);
  if (bad) return bad;
  const target = t as ProbePodTarget;
  if (target.uid === '') return `${what}.uid must not be empty`;
  for (const [i, c] of target.containers.entries()) {
    const p = shapeProblem(c, TARGET_CONTAINER_SHAPE, `${what}.containers[${i}]`);
    if (p) return p;
    for (const [j, probe] of c.probes.entries()) {
      const q = kindOf(probe) === 'object' ? undefined : `${what}.containers[${i}].probes[${j}] must be an object`;
      if (q) return q;
      for (const [field, spec] of Object.entries(PROBE_SHAPE))
        if (kindOf((probe as unknown as Record<string, unknown>)[field]) !== spec) return `${what}.containers[${i}].probes[${j}].${field} must be a ${spec}`;
      if (!PROBE_KINDS.has(probe.kind)) return `${what}.containers[${i}].probes[${j}].kind must be one of ${[...PROBE_KINDS].join(', ')}`;
    }
  }
  return undefined;
}

// An eviction candidate is ranked on every round: the fields the ranking reads are checked.
const CANDIDATE_SHAPE: Record<string, FieldSpec> = {
  uid: 'string',
  namespace: 'string',
  name: 'string',
  priority: 'number',
  qos: 'string',
  critical: 'boolean',
  terminationGracePeriodSeconds: 'number',
  requests: 'object',
  containers: 'array',
  usage: 'object?',
};
const CANDIDATE_CONTAINER_SHAPE: Record<string, FieldSpec> = {
  name: 'string',
  memoryRequest: 'number',
  memoryRequestText: 'string',
  storageRequest: 'number',
  storageRequestText: 'string',
};

function candidateProblem(c: unknown, what: string): string | undefined {
  const bad = shapeProblem(c, CANDIDATE_SHAPE, what);
  if (bad) return bad;
  const cand = c as EvictionCandidate;
  if (cand.uid === '') return `${what}.uid must not be empty`;
  for (const r of ['memory', 'ephemeral-storage'] as const) if (kindOf(cand.requests[r]) !== 'number') return `${what}.requests.${r} must be a number`;
  for (const [i, ct] of cand.containers.entries()) {
    const p = shapeProblem(ct, CANDIDATE_CONTAINER_SHAPE, `${what}.containers[${i}]`);
    if (p) return p;
  }
  return undefined;
}

/** Why a request body is refused, or undefined when it is fine. */
export function requestProblem(name: RequestName, body: unknown): string | undefined {
  const spec = REQUEST_SCHEMA[name] as RequestSpec<RequestName>;
  const bad = shapeProblem(body, spec.body, name);
  if (bad) return bad;
  return spec.check?.(body as never);
}
