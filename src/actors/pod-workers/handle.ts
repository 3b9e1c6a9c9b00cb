// The pod-worker actors on the main thread: one per pod UID, each a mailbox driven by the pure
// transition in logic.ts; this file runs the effects that transition asks for:
//   sync      -> inspect the pod (pool), plan (here: backoff lives here), execute (pool),
//                inspect again, compute status, then post sync-done to the mailbox;
//   terminate -> wait until a cancelled sync has really let go, KillPod (pool), final status;
//   cancel    -> flip the running task's cancel flag;  schedule -> a timer posting tick;
//   terminated -> remove the sandboxes when the pod left the config (cleanup).
// A sync that throws (a bug, a dead pool thread) is contained: it becomes an error outcome of
// that pod only, retried after backoff. Status is recomputed on every sync and every PLEG event.
import type { Logger } from 'pino';
import type { Bus } from '../../bus/index.js';
import type { Pod, PodStatus } from '../../api/core-v1.js';
import type { KubeletMetrics } from '../../metrics/kubelet-metrics.js';
import { Backoff, systemClock, type Clock } from '../../pods/backoff.js';
import type { SandboxOptions } from '../../pods/cri-config.js';
import type { PodRuntimeState } from '../../pods/runtime-state.js';
import { computePodStatus, type StatusInputs, type SyncError } from '../../pods/status.js';
import type { ProbeVerdicts } from '../../pods/actions.js';
import type { ProbeKind } from '../../probes/spec.js';
import { applySyncResult, planSync, type SyncPlan, type SyncResult } from '../../pods/sync.js';
import { silentLogger } from '../../log.js';
import {
  DEFAULT_POD_WORKER_CONFIG,
  activeDeadlineAt,
  initialPodWorkerState,
  isFinishedPhase,
  syncOutcome,
  podWorkerTransition,
  type PodWorkerConfig,
  type PodWorkerEffect,
  type PodWorkerMessage,
  type PodWorkerState,
  type SyncOutcome,
  type TerminalStatus,
  type CacheCurrency,
  freshCacheCurrency,
  changeStarted,
  changeEnded,
  inspected,
  plegStateArrived,
  cacheUsable,
  plegStateVerdict,
} from './logic.js';
import type { SyncPool, TaskHandle } from '../sync-pool/handle.js';
import type { PrepareResult } from '../../volumes/prepare.js';
import type { HookEvent } from '../../pods/sync.js';
import { EffectRunner } from '../host/effects.js';

/**
 * One sync or kill of a pod. Each run holds its own task object: a run that outlives a cancel
 * must see its own `cancelled`, not that of the kill that replaced it (else it went on creating
 * the sandbox beside the kill).
 */
interface Task {
  work: number;
  handle: TaskHandle<unknown> | undefined;
  cancelled: boolean;
  /** The whole run (all its pool calls): a kill waits for a cancelled run to end. */
  done: Promise<void> | undefined;
}

interface Worker {
  state: PodWorkerState;
  timer: NodeJS.Timeout | undefined;
  /** The running task (sync or kill) and its id. */
  task: Task | undefined;
  /** Tasks cancelled but maybe still running: a terminate waits for them. */
  draining: Promise<void>[];
  status: PodStatus | undefined;
  syncErrors: Map<string, SyncError>;
  removed: boolean;
  firstSeen: number;
  startedReported: boolean;
  /** Containers a running sync started with a postStart hook (since when): not Running yet. */
  postStart: { names: ReadonlySet<string>; since: number } | undefined;
  /** Whether the cached runtime state shows this worker's changes (the rule is the logic's). */
  cache: CacheCurrency;
}

export interface PodWorkersOptions {
  pool: SyncPool;
  sandbox: Omit<SandboxOptions, 'attempt'>;
  hostIP?: string;
  crashLoopBackOff?: { initialMs: number; maxMs: number };
  worker?: Partial<PodWorkerConfig>;
  clock?: Clock;
  metrics?: KubeletMetrics;
  logger?: Logger;
  /** Called whenever a pod's status changes (the status manager). */
  onStatus?: (pod: Pod, status: PodStatus) => void;
  /** Called once a worker is gone for good (terminated and removed). */
  onGone?: (uid: string, pod: Pod) => void;
  /**
   * Host-side preparation before each sync (volumes, env: src/volumes/prepare.ts). An error
   * skips the sync (status stays as computed, containers waiting) and retries after backoff.
   */
  prepare?: (pod: Pod) => Promise<PrepareResult>;
  /** Called when a pod's worker reaches terminated (killed, or finished), with its final status. */
  onTerminated?: (pod: Pod, status: PodStatus | undefined) => void;
  /** Pod events in upstream's reasons (Pulled, Created, Started, Killing, BackOff, Failed, ...). */
  onEvent?: (pod: Pod, event: PodEvent) => void;
  /** Probe results (the probe actor): readiness and startup for status, liveness/startup failures for sync. */
  probes?: {
    statusInputs(uid: string): Pick<StatusInputs, 'ready' | 'started'>;
    verdicts(uid: string): ProbeVerdicts;
  };
}

export interface PodEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  /** The container the event is about (fieldPath spec.containers{name}). */
  container?: { name: string; init: boolean };
}

/** The pod's host side is not ready (e.g. FailedMount): its sync does not run. */
class PodPrepareError extends Error {
  readonly code = 'KTS_POD_PREPARE';
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** The sync found the pod past its active deadline: nothing to plan, the worker terminates it. */
class DeadlinePassed extends Error {
  readonly code = 'KTS_POD_DEADLINE';
}

function newWorker(pod: Pod, firstSeen: number): Worker {
  return {
    state: initialPodWorkerState(pod),
    timer: undefined,
    task: undefined,
    draining: [],
    status: undefined,
    syncErrors: new Map(),
    removed: false,
    firstSeen,
    startedReported: false,
    postStart: undefined,
    cache: freshCacheCurrency,
  };
}

function podKey(pod: Pod): string {
  return `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name ?? ''}`;
}

/** A terminal status reported alone, with the pod's start time (a refusal at admission, an eviction: upstream writes no more). */
function statusAlone(t: TerminalStatus, startTime: string): PodStatus {
  return { phase: t.phase, reason: t.reason, message: t.message, startTime };
}

export class PodWorkers {
  private readonly workers = new Map<string, Worker>();
  private readonly crash: Backoff;
  private readonly pull: Backoff;
  private readonly cfg: PodWorkerConfig;
  private readonly log: Logger;
  private readonly effects: EffectRunner<PodWorkerEffect, { uid: string; w: Worker }>;
  private readonly clock: Clock;
  private stopping = false;
  /** Removed pods whose sandboxes are being removed now (cleanup runs once at a time per pod). */
  private readonly cleaningUp = new Set<string>();
  /** Latest runtime state per pod from PLEG (or a sync's own inspection). */
  readonly cache = new Map<string, PodRuntimeState>();
  /**
   * Chaos hook: the next `n` syncs of a pod (by UID) throw inside the sync, as a bug would.
   * Off unless a test or the chaos tooling sets it; the sync code itself is unchanged.
   */
  readonly injectedSyncErrors = new Map<string, number>();

  constructor(private readonly opts: PodWorkersOptions) {
    this.clock = opts.clock ?? systemClock;
    this.crash = new Backoff(opts.crashLoopBackOff?.initialMs ?? 10_000, opts.crashLoopBackOff?.maxMs ?? 300_000, this.clock);
    this.pull = new Backoff(10_000, 300_000, this.clock);
    this.cfg = { ...DEFAULT_POD_WORKER_CONFIG, ...opts.worker };
    this.log = (opts.logger ?? silentLogger).child({ actor: 'pod-workers' });
    this.effects = this.effectRunner();
  }

  get size(): number {
    return this.workers.size;
  }

  /** A new or changed desired pod. */
  update(pod: Pod): void {
    const uid = pod.metadata.uid ?? '';
    let w = this.workers.get(uid);
    if (!w) {
      w = newWorker(pod, this.clock.now());
      this.workers.set(uid, w);
    }
    this.deliver(uid, { type: 'update', pod, at: this.clock.now() });
  }

  /**
   * The pod left the config (or was deleted, or is evicted): terminate it, then forget it. With
   * `status` the pod reports that terminal status (an eviction: Failed/Evicted) from now on.
   */
  remove(uid: string, reason: string, gracePeriodSeconds?: number, status?: TerminalStatus): void {
    const w = this.workers.get(uid);
    if (!w) return;
    w.removed = true;
    if (w.state.lifecycle === 'terminated') {
      void this.cleanup(uid);
      return;
    }
    this.deliver(uid, {
      type: 'kill',
      reason,
      at: this.clock.now(),
      ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
      ...(status ? { status } : {}),
    });
  }

  /**
   * Admission refused a new pod (upstream rejectPod): it is held as terminated, with phase
   * Failed and the reason in its status and a Warning event; nothing runs for it. Its removal
   * from the config forgets it as any terminated pod.
   */
  reject(pod: Pod, reason: string, message: string): void {
    const uid = pod.metadata.uid ?? '';
    if (this.workers.has(uid)) return;
    const w = newWorker(pod, this.clock.now());
    w.startedReported = true;
    this.workers.set(uid, w);
    this.log.warn({ pod: podKey(pod), reason, message }, 'pod rejected at admission');
    this.deliver(uid, { type: 'reject', reason, message, at: this.clock.now() });
    const terminal = w.state.terminal;
    if (!terminal) return; // (a new worker always takes the refusal)
    // Nothing ran: the status is the verdict alone (upstream rejectPod), not one computed from a runtime state.
    const status = statusAlone(terminal, this.nowText());
    w.status = status;
    this.opts.onStatus?.(pod, status);
  }

  /**
   * PLEG said something about this pod. Level-triggered: besides PLEG's own events, a state
   * that differs from what this pod's worker last saw wakes it too. After a PLEG restart the
   * first relist is a new baseline with no events, and a container that died meanwhile would
   * otherwise wait for the periodic resync (up to 1.5 min).
   */
  runtimeState(uid: string, state: PodRuntimeState | undefined, changed: boolean): void {
    const prev = this.cache.get(uid);
    // A PLEG inspection that began before the pool's latest one (a sync's own read-back) is
    // older news: it must not replace it. Its events still wake the worker, which syncs on the newer state.
    let stale = false;
    if (state) ({ stale, changed } = plegStateVerdict(prev, state, changed));
    if (state && !stale) this.cache.set(uid, state);
    else if (!state) this.cache.delete(uid);
    const w = this.workers.get(uid);
    if (!w) return;
    if (state && !stale) w.cache = plegStateArrived(w.cache, state);
    if (state && !stale) this.recomputeStatus(uid, w, state);
    if (changed) this.deliver(uid, { type: 'runtime-event', at: this.clock.now() });
  }

  /**
   * A probe result changed: the status follows (readiness, startup); a liveness or startup
   * failure also wakes the worker, whose sync restarts the container.
   */
  probeResult(uid: string, kind: ProbeKind, result: 'success' | 'failure' | 'unknown'): void {
    const w = this.workers.get(uid);
    const state = this.cache.get(uid);
    if (!w || !state) return;
    this.recomputeStatus(uid, w, state);
    if (result === 'failure' && (kind === 'liveness' || kind === 'startup')) this.deliver(uid, { type: 'runtime-event', at: this.clock.now() });
  }

  has(uid: string): boolean {
    return this.workers.has(uid);
  }

  /** What a pod's worker is doing, for debugging (a test that times out says why). */
  describe(uid: string): Record<string, unknown> | undefined {
    const w = this.workers.get(uid);
    if (!w) return undefined;
    const { lifecycle, pending, inFlight, inFlightKind, lastWork, requeueAt, consecutiveErrors } = w.state;
    return {
      lifecycle,
      pending,
      inFlight,
      inFlightKind,
      lastWork,
      consecutiveErrors,
      requeueInMs: requeueAt === undefined ? undefined : requeueAt - this.clock.now(),
      task: w.task ? { work: w.task.work, cancelled: w.task.cancelled, hasHandle: w.task.handle !== undefined } : undefined,
      timer: w.timer !== undefined,
      draining: w.draining.length,
      syncErrors: Object.fromEntries(w.syncErrors),
      runtime: (this.cache.get(uid)?.containers ?? []).map((c) => `${c.name}:${c.id.slice(0, 8)}:${c.state}:${c.restartCount}`),
    };
  }

  statusOf(uid: string): PodStatus | undefined {
    return this.workers.get(uid)?.status;
  }

  podOf(uid: string): Pod | undefined {
    return this.workers.get(uid)?.state.pod;
  }

  lifecycleOf(uid: string): PodWorkerState['lifecycle'] | undefined {
    return this.workers.get(uid)?.state.lifecycle;
  }

  all(): { pod: Pod; status: PodStatus | undefined; lifecycle: PodWorkerState['lifecycle'] }[] {
    return [...this.workers.values()].map((w) => ({ pod: w.state.pod, status: w.status, lifecycle: w.state.lifecycle }));
  }

  /** Answers the pod workers' bus requests (pods.list, pods.describe) on `bus`; returns the undo. */
  serve(bus: Bus): () => void {
    const offs = [
      bus.serve('pods.list', () => ({
        pods: [...this.workers.entries()].map(([uid, w]) => ({
          uid,
          namespace: w.state.pod.metadata.namespace ?? 'default',
          name: w.state.pod.metadata.name ?? '',
          lifecycle: w.state.lifecycle,
          ...(w.status?.phase ? { phase: w.status.phase } : {}),
        })),
      })),
      // Through JSON: a describe is for people and may hold undefined fields, which clone as such
      // but do not survive NATS; the reply is the same either way.
      bus.serve('pods.describe', (req) => ({ worker: JSON.parse(JSON.stringify(this.describe(req.uid) ?? null)) as Record<string, unknown> | null })),
    ];
    return () => offs.forEach((off) => off());
  }

  /** Counts for the upstream working_pods gauge. */
  counts(): Record<PodWorkerState['lifecycle'], number> {
    const c = { syncing: 0, terminating: 0, terminated: 0 };
    for (const w of this.workers.values()) c[w.state.lifecycle]++;
    return c;
  }

  private deliver(uid: string, m: PodWorkerMessage): void {
    const w = this.workers.get(uid);
    if (!w || this.stopping) return;
    const before = w.state.terminal;
    const { state, effects } = podWorkerTransition(w.state, m, this.cfg);
    w.state = state;
    this.effects.run(effects, { uid, w });
    // A kill's terminal status (an eviction's) shows at once, not at the pod's next sync. (The
    // other ways to one recompute the status themselves: the deadline within its sync, a refusal
    // with no runtime state at all.)
    if (m.type === 'kill' && state.terminal !== before) {
      const cached = this.cache.get(uid);
      if (cached) this.recomputeStatus(uid, w, cached);
    }
  }

  /** The pod worker's effects, carried out by the one effect runner; the context is the worker. */
  private effectRunner(): EffectRunner<PodWorkerEffect, { uid: string; w: Worker }> {
    return new EffectRunner<PodWorkerEffect, { uid: string; w: Worker }>(
      'pod-workers',
      {
        schedule: (e, { uid, w }) => {
          if (w.timer) clearTimeout(w.timer);
          w.timer = setTimeout(
            () => {
              w.timer = undefined;
              this.deliver(uid, { type: 'tick', at: this.clock.now() });
            },
            Math.max(0, e.at - this.clock.now()),
          );
          w.timer.unref();
        },
        cancel: (e, { w }) => {
          if (w.task && w.task.work === e.work) {
            w.task.cancelled = true;
            w.task.handle?.cancel();
            if (w.task.done) w.draining.push(w.task.done);
          }
        },
        sync: (e, { uid, w }) => {
          const task: Task = { work: e.work, handle: undefined, cancelled: false, done: undefined };
          w.task = task;
          task.done = this.sync(uid, w, task, e.pod);
        },
        terminate: (e, { uid, w }) => {
          const task: Task = { work: e.work, handle: undefined, cancelled: false, done: undefined };
          w.task = task;
          task.done = this.terminate(uid, w, task, e.pod, e.gracePeriodSeconds, e.reason);
        },
        event: (e, { w }) => this.opts.onEvent?.(w.state.pod, e.event),
        terminated: (e, { uid, w }) => {
          if (w.timer) clearTimeout(w.timer);
          this.log.info({ pod: podKey(e.pod), uid }, 'pod terminated');
          this.opts.onTerminated?.(e.pod, w.status);
          if (w.removed) void this.cleanup(uid);
        },
      },
      this.log,
    );
  }

  private async inspect(uid: string, w: Worker, task: Task | undefined): Promise<PodRuntimeState> {
    // Sent with no change task running: what it reads shows all of this worker's changes.
    const clean = w.cache.changing === 0;
    const h = this.opts.pool.run({ type: 'inspect', uid });
    if (task) task.handle = h;
    const { state } = await h.result;
    w.cache = inspected(w.cache, clean);
    const prev = this.cache.get(uid);
    // (A PLEG state observed after this inspection began, arrived meanwhile, is newer still.)
    if (prev?.observedAt !== undefined && state.observedAt !== undefined && prev.observedAt > state.observedAt) return prev;
    this.cache.set(uid, state);
    return state;
  }

  /**
   * The pod's runtime state before a sync: the cached one when it shows this worker's last
   * change and no change task runs now (upstream's PLEG cache GetNewerThan), else a fresh
   * inspection. A PLEG-triggered sync thus reads nothing twice;
   * the cache is level-triggered (every runtime change reaches it through the PLEG).
   */
  private async currentState(uid: string, w: Worker, task: Task): Promise<PodRuntimeState> {
    const cached = this.cache.get(uid);
    if (cached && cacheUsable(w.cache)) {
      this.skippedInspections++;
      return cached;
    }
    return this.inspect(uid, w, task);
  }

  /** Pre-sync inspections answered from the cache (tests, the benchmark's diagnostics). */
  skippedInspections = 0;

  /** Counts a task that changes the pod in the runtime, and its end, in the worker's cache currency. */
  private changing<H extends { settled: Promise<void> }>(w: Worker, h: H): H {
    w.cache = changeStarted(w.cache);
    void h.settled.then(() => {
      w.cache = changeEnded(w.cache, Date.now());
    });
    return h;
  }

  private async sync(uid: string, w: Worker, task: Task, pod: Pod): Promise<void> {
    const work = task.work;
    const t0 = performance.now();
    const op = w.status === undefined ? 'create' : 'sync';
    let outcome: SyncOutcome = 'ok';
    let podFinished = false;
    let retryAfterMs: number | undefined;
    let deadlineAt: number | undefined;
    try {
      const state = await this.currentState(uid, w, task);
      if (task.cancelled) return;
      deadlineAt = activeDeadlineAt(pod, w.status?.startTime, w.firstSeen);
      if (deadlineAt !== undefined && this.clock.now() >= deadlineAt) {
        // Upstream's activeDeadlineHandler: the pod fails, then the worker kills it.
        if (!w.state.terminal) this.log.info({ pod: podKey(pod), activeDeadlineSeconds: pod.spec.activeDeadlineSeconds }, 'pod passed its active deadline');
        this.deliver(uid, { type: 'deadline-passed', at: this.clock.now() });
        this.recomputeStatus(uid, w, state);
        podFinished = true;
        throw new DeadlinePassed();
      }
      const injected = this.injectedSyncErrors.get(uid) ?? 0;
      if (injected > 0) {
        this.injectedSyncErrors.set(uid, injected - 1);
        throw new Error('injected fault: a sync threw');
      }
      const prepared = this.opts.prepare ? await this.opts.prepare(pod) : undefined;
      if (task.cancelled) return;
      if (prepared && 'error' in prepared) throw new PodPrepareError(prepared.error.reason, prepared.error.message);
      const ctx = {
        now: this.clock.now(),
        crashBackoff: this.crash,
        pullBackoff: this.pull,
        ...(this.opts.probes ? { probes: this.opts.probes.verdicts(uid) } : {}),
      };
      const plan = planSync(pod, state, ctx);
      retryAfterMs = plan.retryAfterMs;
      if (plan.killPod || plan.createSandbox || plan.start.length > 0 || plan.containersToKill.length > 0) {
        const hooked = plan.start.filter(
          (st) => (st.kind === 'init' ? pod.spec.initContainers?.[st.index] : pod.spec.containers[st.index])?.lifecycle?.postStart,
        );
        // Wall clock, not this.clock: it is compared with the runtime's createdAt (1 s of slack).
        w.postStart = hooked.length > 0 ? { names: new Set(hooked.map((st) => st.name)), since: Date.now() - 1000 } : undefined;
        const h = this.changing(
          w,
          this.opts.pool.run({
            type: 'sync',
            pod,
            plan,
            sandbox: { ...this.opts.sandbox, attempt: plan.attempt },
            ...(prepared ? { prepared: prepared.prepared } : {}),
          }),
        );
        task.handle = h;
        const { result } = await h.result.finally(() => {
          w.postStart = undefined;
        });
        w.syncErrors = applySyncResult(pod, plan, result, ctx);
        this.emitSyncEvents(pod, plan, result);
        for (const s of result.started) {
          if (s.containerId && !s.error)
            this.opts.metrics?.startedContainers.inc({
              container_type: pod.spec.initContainers?.some((c) => c.name === s.name) ? 'init_container' : 'container',
            });
          if (s.error) this.opts.metrics?.startedContainersErrors.inc({ container_type: 'container', code: s.error.reason });
          if (s.error) this.log.warn({ pod: podKey(pod), container: s.name, reason: s.error.reason, message: s.error.message }, 'container could not start');
        }
        if (result.sandboxError) this.log.warn({ pod: podKey(pod), err: result.sandboxError }, 'FailedCreatePodSandBox');
        outcome = syncOutcome({
          sandboxFailure: result.sandboxFailure,
          killErrors: result.killErrors,
          waitingReasons: [...w.syncErrors.values()].map((e) => e.reason),
        });
        if (task.cancelled) return;
        const after = await this.inspect(uid, w, task);
        this.recomputeStatus(uid, w, after);
      } else {
        w.syncErrors = new Map(Object.entries(plan.waiting));
        this.emitSyncEvents(pod, plan, undefined);
        this.recomputeStatus(uid, w, state);
      }
      podFinished = isFinishedPhase(w.status?.phase);
    } catch (err) {
      if (task.cancelled || this.stopping) return;
      if (err instanceof DeadlinePassed) {
        // Not an error: podFinished is set, the worker moves on to terminating.
      } else if (err instanceof PodPrepareError) {
        outcome = 'error';
        this.log.warn({ pod: podKey(pod), reason: err.reason, err: err.message }, 'pod not prepared; sync skipped');
        const state = this.cache.get(uid);
        if (state) this.recomputeStatus(uid, w, state);
      } else {
        outcome = 'error';
        this.log.error({ pod: podKey(pod), err: err instanceof Error ? err.message : String(err) }, 'pod sync failed');
      }
    } finally {
      this.opts.metrics?.podWorkerDuration.observe({ operation_type: op }, (performance.now() - t0) / 1000);
    }
    if (w.task === task) w.task = undefined;
    this.deliver(uid, {
      type: 'sync-done',
      work,
      outcome,
      podFinished,
      at: this.clock.now(),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      ...(deadlineAt === undefined ? {} : { deadlineAt }),
    });
  }

  private async terminate(uid: string, w: Worker, task: Task, pod: Pod, graceSeconds: number, reason: string): Promise<void> {
    const work = task.work;
    let ok = false;
    try {
      // Never kill beside a cancelled sync that is still creating things.
      await Promise.all(w.draining.splice(0));
      this.log.info({ pod: podKey(pod), uid, graceSeconds, reason }, 'killing pod');
      if (this.opts.onEvent) {
        const running = this.cache.get(uid)?.containers.filter((c) => c.state === 'running') ?? [];
        for (const c of running)
          this.opts.onEvent(pod, {
            type: 'Normal',
            reason: 'Killing',
            message: `Stopping container ${c.name}`,
            container: { name: c.name, init: pod.spec.initContainers?.some((i) => i.name === c.name) ?? false },
          });
      }
      const h = this.changing(w, this.opts.pool.run({ type: 'kill', uid, graceSeconds, pod }));
      task.handle = h;
      const r = await h.result;
      this.emitHookEvents(pod, r.events);
      ok = r.errors.length === 0;
      if (!ok) this.log.warn({ pod: podKey(pod), errors: r.errors }, 'pod kill incomplete; will retry');
      const after = await this.inspect(uid, w, task);
      this.recomputeStatus(uid, w, after);
    } catch (err) {
      // A kill cancelled for a shorter grace period is replaced, not failed.
      if (!task.cancelled) this.log.error({ pod: podKey(pod), err: err instanceof Error ? err.message : String(err) }, 'pod kill failed');
    }
    if (w.task === task) w.task = undefined;
    this.deliver(uid, { type: 'terminate-done', work, ok, at: this.clock.now() });
  }

  /** Events for what one sync did, in the order it did it (as upstream's kuberuntime records them). */
  private emitSyncEvents(pod: Pod, plan: SyncPlan, result: SyncResult | undefined): void {
    const emit = this.opts.onEvent;
    if (!emit) return;
    const specOf = (name: string): { image: string; init: boolean } => {
      const init = pod.spec.initContainers?.find((c) => c.name === name);
      const app = pod.spec.containers.find((c) => c.name === name);
      return { image: (init ?? app)?.image ?? '', init: init !== undefined };
    };
    for (const [name, err] of Object.entries(plan.waiting)) {
      const { image, init } = specOf(name);
      if (err.reason === 'CrashLoopBackOff')
        emit(pod, { type: 'Warning', reason: 'BackOff', message: 'Back-off restarting failed container', container: { name, init } });
      else if (err.reason === 'ImagePullBackOff')
        emit(pod, { type: 'Normal', reason: 'BackOff', message: `Back-off pulling image "${image}"`, container: { name, init } });
    }
    if (!result) return;
    if (plan.killPod && plan.createSandbox && plan.attempt > 0)
      emit(pod, { type: 'Normal', reason: 'SandboxChanged', message: 'Pod sandbox changed, it will be killed and re-created.' });
    for (const k of plan.containersToKill)
      emit(pod, {
        type: 'Normal',
        reason: 'Killing',
        message: k.message || `Stopping container ${k.name}`,
        container: { name: k.name, init: specOf(k.name).init },
      });
    if (result.sandboxError) {
      emit(pod, { type: 'Warning', reason: 'FailedCreatePodSandBox', message: result.sandboxError });
      return;
    }
    // Hook events of the kills come before the starts; those of a failed postStart after its Started.
    const hookEvents = result.events ?? [];
    const postStartEvents = hookEvents.filter((e) => e.reason === 'FailedPostStartHook' || (e.reason === 'Killing' && e.message === 'FailedPostStartHook'));
    this.emitHookEvents(
      pod,
      hookEvents.filter((e) => !postStartEvents.includes(e)),
    );
    for (const s of result.started) {
      const { image, init } = specOf(s.name);
      const container = { name: s.name, init };
      if (s.error?.reason === 'ErrImagePull') {
        emit(pod, { type: 'Normal', reason: 'Pulling', message: `Pulling image "${image}"`, container });
        emit(pod, { type: 'Warning', reason: 'Failed', message: s.error.message, container });
        emit(pod, { type: 'Warning', reason: 'Failed', message: 'Error: ErrImagePull', container });
        continue;
      }
      if (s.error && !s.containerId && s.error.reason !== 'CreateContainerError') {
        emit(pod, { type: 'Warning', reason: 'Failed', message: `Error: ${s.error.message}`, container });
        continue;
      }
      if (s.pulledMs !== undefined) {
        emit(pod, { type: 'Normal', reason: 'Pulling', message: `Pulling image "${image}"`, container });
        emit(pod, { type: 'Normal', reason: 'Pulled', message: `Successfully pulled image "${image}" in ${(s.pulledMs / 1000).toFixed(3)}s`, container });
      } else {
        emit(pod, { type: 'Normal', reason: 'Pulled', message: `Container image "${image}" already present on machine`, container });
      }
      if (!s.containerId) {
        emit(pod, { type: 'Warning', reason: 'Failed', message: `Error: ${s.error?.message ?? 'container not created'}`, container });
        continue;
      }
      emit(pod, { type: 'Normal', reason: 'Created', message: `Created container ${s.name}`, container });
      if (s.error?.reason === 'PostStartHookError') {
        // Upstream: Started, then the hook's failure and the kill it causes.
        emit(pod, { type: 'Normal', reason: 'Started', message: `Started container ${s.name}`, container });
        this.emitHookEvents(
          pod,
          postStartEvents.filter((e) => e.container === s.name),
        );
      } else if (s.error) emit(pod, { type: 'Warning', reason: 'Failed', message: `Error: ${s.error.message}`, container });
      else emit(pod, { type: 'Normal', reason: 'Started', message: `Started container ${s.name}`, container });
    }
  }

  /** Events of lifecycle hooks that ran on the pool thread (FailedPostStartHook, FailedPreStopHook, Killing). */
  private emitHookEvents(pod: Pod, events: readonly HookEvent[] | undefined): void {
    const emit = this.opts.onEvent;
    if (!emit || !events) return;
    for (const e of events)
      emit(pod, {
        type: e.type,
        reason: e.reason,
        message: e.message,
        container: { name: e.container, init: pod.spec.initContainers?.some((c) => c.name === e.container) ?? false },
      });
  }

  private async cleanup(uid: string): Promise<void> {
    const w = this.workers.get(uid);
    if (!w || this.cleaningUp.has(uid)) return;
    this.cleaningUp.add(uid);
    try {
      await this.opts.pool.run({ type: 'remove', uid }).result;
    } catch (err) {
      this.log.warn({ uid, err: err instanceof Error ? err.message : String(err) }, 'could not remove the sandboxes of a removed pod; housekeeping will retry');
      return;
    } finally {
      this.cleaningUp.delete(uid);
    }
    this.workers.delete(uid);
    this.cache.delete(uid);
    this.opts.onGone?.(uid, w.state.pod);
  }

  /** The clock's now as the API writes times (seconds, Z). */
  private nowText(): string {
    return new Date(this.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  private recomputeStatus(uid: string, w: Worker, state: PodRuntimeState): void {
    const pod = w.state.pod;
    const terminal = w.state.terminal;
    if (terminal?.alone) {
      const alone = statusAlone(terminal, w.status?.startTime ?? this.nowText());
      const changedAlone = JSON.stringify(alone) !== JSON.stringify(w.status);
      w.status = alone;
      if (changedAlone) this.opts.onStatus?.(pod, alone);
      return;
    }
    const status = computePodStatus(pod, state, {
      now: this.nowText(),
      syncErrors: w.syncErrors,
      previous: w.status,
      ...this.opts.probes?.statusInputs(uid),
      ...(this.opts.hostIP ? { hostIP: this.opts.hostIP } : {}),
      ...(w.state.terminal ? { terminal: w.state.terminal } : {}),
      ...(w.postStart
        ? {
            postStartRunning: (name: string, c: { createdAt: number }) =>
              w.postStart !== undefined && w.postStart.names.has(name) && c.createdAt >= w.postStart.since,
          }
        : {}),
    });
    const changed = JSON.stringify(status) !== JSON.stringify(w.status);
    w.status = status;
    if (!w.startedReported && status.phase === 'Running' && (status.containerStatuses ?? []).every((c) => c.state.running)) {
      w.startedReported = true;
      this.opts.metrics?.podStartDuration.observe((this.clock.now() - w.firstSeen) / 1000);
      this.opts.metrics?.startedPods.inc();
    }
    if (changed) this.opts.onStatus?.(pod, status);
  }

  /**
   * Housekeeping's pass over the workers (upstream HandlePodCleanups), once every source is
   * ready: a worker whose pod no source wants is killed (its removal may have been lost, or
   * arrived before the worker existed), and a removed pod whose worker terminated but whose
   * cleanup failed is cleaned up again, so that it leaves /pods and stops counting against
   * max-pods. Level-triggered: whatever messages were lost, the workers converge on `wanted`.
   */
  housekeeping(wanted: (uid: string) => boolean): void {
    for (const [uid, w] of this.workers) {
      if (!w.removed && !wanted(uid)) this.remove(uid, 'no source wants the pod');
      else if (w.removed && w.state.lifecycle === 'terminated') void this.cleanup(uid);
    }
  }

  /** Pods that need a kill after a restart or a crash: called by housekeeping with runtime UIDs. */
  orphans(runtimeUids: Iterable<string>): string[] {
    return [...runtimeUids].filter((uid) => !this.workers.has(uid));
  }

  /** Stops timers and cancels running tasks; the pods themselves keep running. */
  stop(): void {
    this.stopping = true;
    for (const w of this.workers.values()) {
      if (w.timer) clearTimeout(w.timer);
      w.task?.handle?.cancel();
    }
  }
}
