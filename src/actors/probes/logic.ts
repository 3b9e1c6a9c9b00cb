// The probe actor's logic: the schedule of every probe on the node, one worker per (pod UID,
// container, probe kind) as upstream's prober workers, on an injected clock and random source
// so it is tested on simulated time. No I/O: each call takes a message (a pod's probes, a pod
// gone, time passed, a probe's outcome) and returns the effects the thread (thread.ts) carries
// out: start a probe, publish a result change, record a pod event, observe or forget a metric
// series, arm the timer for the next due probe. Which outcome makes an event, which result is
// stale, when a worker holds: all decided here.
//
// Rules (upstream's, kept here):
//  - a worker's first probe comes at a random offset within its period, so workers created
//    together spread over the period; later probes every period;
//  - initial results: readiness failure (unready until it succeeds), liveness success, startup
//    unknown; a new container ID resets the worker (result back to initial, thresholds, hold);
//  - a startup probe gates liveness and readiness of the same container until it succeeds, and
//    stops once it has;
//  - no probe before initialDelaySeconds from the container's start;
//  - a result flips only after successThreshold / failureThreshold equal outcomes in a row; a
//    warning counts as success; an errored probe (`unknown`) is thrown away;
//  - after a liveness or startup failure the worker holds (no probes) until the container ID
//    changes (upstream onHold): the container is being restarted;
//  - bounded concurrency: at most `maxConcurrent` probes run; a due probe waits for a slot, and
//    a probe whose previous run (or wait) is not over when it is due again is skipped and counted
//    late, never queued twice: nothing piles up.
import type { SchedulerStats } from '../../bus/requests.js';
import type { ProbeSeries } from '../../probes/metrics.js';
import {
  initialResult,
  probeKindName,
  workerKey,
  type ContainerProbe,
  type ProbeHandler,
  type ProbeKind,
  type ProbeOutcome,
  type ProbePodTarget,
  type ProbeResult,
  type ProbeTiming,
} from '../../probes/spec.js';

export type { ProbeOutcome, ProbeResult, SchedulerStats };

export interface ProbeJob {
  id: number;
  key: string;
  podUid: string;
  podName: string;
  namespace: string;
  container: string;
  containerId: string;
  kind: ProbeKind;
  handler: ProbeHandler;
  timeoutMs: number;
  /** When it should have started, and when it did (epoch ms): lateness is the difference. */
  dueAt: number;
  startedAt: number;
}

/** A published result changed (or a container ID got its initial result). */
export interface ResultChange {
  podUid: string;
  container: string;
  containerId: string;
  kind: ProbeKind;
  result: ProbeResult;
  message: string;
}

/** What the thread is asked to do; effects are carried out in order. */
export type ProbeEffect =
  | { type: 'start'; job: ProbeJob }
  | { type: 'result'; change: ResultChange }
  /** Upstream records an event for every failed, warned or errored attempt (thresholds decide only the result). */
  | { type: 'event'; job: ProbeJob; reason: 'Unhealthy' | 'ProbeWarning'; message: string }
  /** prober_probe_total / prober_probe_duration_seconds for a probe of a live worker. */
  | { type: 'observe'; series: ProbeSeries; result: ProbeOutcome['result']; seconds: number }
  /** A worker is gone: its metric series go too, so pod churn does not grow the registry. */
  | { type: 'forget'; series: ProbeSeries }
  /** The next call to `due` is wanted at `at` (epoch ms); undefined: nothing is scheduled. */
  | { type: 'arm'; at: number | undefined };

interface Worker {
  key: string;
  series: ProbeSeries;
  pod: { uid: string; name: string; namespace: string };
  container: string;
  kind: ProbeKind;
  timing: ProbeTiming;
  handler: ProbeHandler;
  containerId: string;
  containerStartedAt: number;
  result: ProbeResult;
  lastRaw: 'success' | 'failure' | undefined;
  run: number;
  onHold: boolean;
  nextAt: number;
  /** Heap generation: entries with an older one are stale. */
  gen: number;
  inFlight: boolean;
  /** Due time of a probe waiting for a slot, or undefined. */
  waitingSince: number | undefined;
}

/** A binary min-heap of (at, key, gen); stale entries are skipped when popped. */
class DueHeap {
  private readonly a: { at: number; key: string; gen: number }[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): { at: number; key: string; gen: number } | undefined {
    return this.a[0];
  }
  push(e: { at: number; key: string; gen: number }): void {
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pi = a[p];
      if (!pi || pi.at <= e.at) break;
      a[i] = pi;
      i = p;
    }
    a[i] = e;
  }
  pop(): { at: number; key: string; gen: number } | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (!top || !last || a.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let mv = last;
      const lv = a[l];
      const rv = a[r];
      if (lv && lv.at < mv.at) {
        m = l;
        mv = lv;
      }
      if (rv && rv.at < mv.at) {
        m = r;
        mv = rv;
      }
      if (m === i) break;
      a[i] = mv;
      i = m;
    }
    a[i] = last;
    return top;
  }
}

export interface ProbeLogicOptions {
  now: () => number;
  /** Uniform in [0, 1): the initial offset of each worker. */
  random?: () => number;
  maxConcurrent?: number;
}

/**
 * Probes in flight at once. Upstream has no bound (a goroutine per worker); here the bound keeps
 * a slow runtime or network from growing the in-flight set without limit. Most of a probe's
 * time is spent waiting on the runtime or the pod, so the bound must cover the probes a second
 * brings: bench/probes at 1000 containers x 1 s ran 865 probes/s with 100 slots (start lateness
 * p50 0.5 s) and 967/s with 400 (p50 9 ms) on the same shared machine.
 */
export const DEFAULT_MAX_CONCURRENT_PROBES = 400;

export class ProbeLogic {
  private readonly workers = new Map<string, Worker>();
  private readonly pods = new Set<string>();
  private readonly byPod = new Map<string, Set<string>>();
  private readonly heap = new DueHeap();
  private readonly queue: string[] = [];
  private readonly random: () => number;
  private readonly max: number;
  private running = 0;
  private nextJob = 1;
  private readonly counters = { started: 0, completed: 0, overrun: 0, missed: 0 };

  constructor(private readonly opts: ProbeLogicOptions) {
    this.random = opts.random ?? Math.random;
    this.max = Math.max(1, opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_PROBES);
  }

  /** Pods with at least one probe. */
  get podCount(): number {
    return this.pods.size;
  }

  /**
   * A pod's running containers and their probes, in full (what is not listed is dropped; a pod
   * with no container left is removed). Each new container ID gets its initial result.
   */
  setPod(target: ProbePodTarget): ProbeEffect[] {
    const effects: ProbeEffect[] = [];
    this.upsertPod(target, effects);
    effects.push(this.arm());
    return effects;
  }

  removePod(uid: string): ProbeEffect[] {
    const effects: ProbeEffect[] = [];
    this.dropPod(uid, effects);
    effects.push(this.arm());
    return effects;
  }

  /** Every pod's probes at once (after a thread restart): pods not listed are dropped. */
  setPods(targets: readonly ProbePodTarget[]): ProbeEffect[] {
    const effects: ProbeEffect[] = [];
    const want = new Set(targets.map((t) => t.uid));
    for (const uid of [...this.pods]) if (!want.has(uid)) this.dropPod(uid, effects);
    for (const t of targets) this.upsertPod(t, effects);
    effects.push(this.arm());
    return effects;
  }

  private upsertPod(target: ProbePodTarget, effects: ProbeEffect[]): void {
    const keep = new Set<string>();
    const now = this.opts.now();
    for (const c of target.containers) {
      for (const p of c.probes) {
        const key = workerKey(target.uid, c.name, p.kind);
        keep.add(key);
        const change = this.upsert(key, target, c.name, c.containerId, c.startedAt, p, now);
        if (change) effects.push({ type: 'result', change });
      }
    }
    for (const key of this.byPod.get(target.uid) ?? []) if (!keep.has(key)) this.drop(key, effects);
    if (keep.size > 0) {
      this.byPod.set(target.uid, keep);
      this.pods.add(target.uid);
    } else {
      this.byPod.delete(target.uid);
      this.pods.delete(target.uid);
    }
  }

  private dropPod(uid: string, effects: ProbeEffect[]): void {
    for (const key of this.byPod.get(uid) ?? []) this.drop(key, effects);
    this.byPod.delete(uid);
    this.pods.delete(uid);
  }

  private arm(): ProbeEffect {
    return { type: 'arm', at: this.nextWakeAt() };
  }

  private upsert(
    key: string,
    pod: ProbePodTarget,
    container: string,
    containerId: string,
    startedAt: number,
    p: ContainerProbe,
    now: number,
  ): ResultChange | undefined {
    const w = this.workers.get(key);
    if (!w) {
      const nw: Worker = {
        key,
        series: { kind: p.kind, container, pod: pod.name, namespace: pod.namespace, podUid: pod.uid },
        pod: { uid: pod.uid, name: pod.name, namespace: pod.namespace },
        container,
        kind: p.kind,
        timing: p.timing,
        handler: p.handler,
        containerId,
        containerStartedAt: startedAt,
        result: initialResult(p.kind),
        lastRaw: undefined,
        run: 0,
        onHold: false,
        nextAt: now + Math.floor(this.random() * p.timing.periodMs),
        gen: 0,
        inFlight: false,
        waitingSince: undefined,
      };
      this.workers.set(key, nw);
      this.heap.push({ at: nw.nextAt, key, gen: nw.gen });
      return this.change(nw, '');
    }
    const periodChanged = w.timing.periodMs !== p.timing.periodMs;
    w.timing = p.timing;
    w.handler = p.handler;
    w.pod = { uid: pod.uid, name: pod.name, namespace: pod.namespace };
    if (periodChanged) {
      w.gen++;
      w.nextAt = now + Math.floor(this.random() * p.timing.periodMs);
      this.heap.push({ at: w.nextAt, key, gen: w.gen });
    }
    if (w.containerId === containerId) return undefined;
    // A new container: start over (upstream resets the result and lifts the hold).
    w.containerId = containerId;
    w.containerStartedAt = startedAt;
    w.result = initialResult(w.kind);
    w.lastRaw = undefined;
    w.run = 0;
    w.onHold = false;
    return this.change(w, '');
  }

  private drop(key: string, effects: ProbeEffect[]): void {
    const w = this.workers.get(key);
    if (!w) return;
    this.workers.delete(key);
    effects.push({ type: 'forget', series: w.series });
    // Its heap entries and queue slot go stale; an in-flight job's result is ignored.
  }

  private change(w: Worker, message: string): ResultChange {
    return { podUid: w.pod.uid, container: w.container, containerId: w.containerId, kind: w.kind, result: w.result, message };
  }

  /** When the runner should call `due` next (epoch ms), or undefined when nothing is scheduled. */
  nextWakeAt(): number | undefined {
    for (;;) {
      const top = this.heap.peek();
      if (!top) return undefined;
      const w = this.workers.get(top.key);
      if (w && w.gen === top.gen) return top.at;
      this.heap.pop();
    }
  }

  /** Whether a probe should run now (upstream doProbe's early returns). */
  private shouldRun(w: Worker, now: number): boolean {
    if (w.onHold) return false;
    if (w.kind === 'startup') {
      if (w.result === 'success') return false;
    } else {
      const startup = this.workers.get(workerKey(w.pod.uid, w.container, 'startup'));
      if (startup && (startup.containerId !== w.containerId || startup.result !== 'success')) return false;
    }
    return now - w.containerStartedAt >= w.timing.initialDelayMs;
  }

  /** Time passed: the probes to start now, each taking a concurrency slot until `complete`. */
  due(now: number): ProbeEffect[] {
    const effects: ProbeEffect[] = [];
    for (;;) {
      const top = this.heap.peek();
      if (!top || top.at > now) break;
      this.heap.pop();
      const w = this.workers.get(top.key);
      if (!w || w.gen !== top.gen) continue;
      const dueAt = top.at;
      // Next tick; ticks the runner slept through are dropped, as a Go ticker drops them.
      let next = dueAt + w.timing.periodMs;
      if (next <= now) {
        const skipped = Math.floor((now - dueAt) / w.timing.periodMs);
        this.counters.missed += skipped;
        next = dueAt + (skipped + 1) * w.timing.periodMs;
      }
      w.nextAt = next;
      this.heap.push({ at: next, key: w.key, gen: w.gen });
      if (!this.shouldRun(w, now)) continue;
      if (w.inFlight || w.waitingSince !== undefined) {
        this.counters.overrun++;
        continue;
      }
      if (this.running < this.max) effects.push({ type: 'start', job: this.start(w, dueAt, now) });
      else {
        w.waitingSince = dueAt;
        this.queue.push(w.key);
      }
    }
    effects.push(this.arm());
    return effects;
  }

  private start(w: Worker, dueAt: number, now: number): ProbeJob {
    this.running++;
    this.counters.started++;
    w.inFlight = true;
    return {
      id: this.nextJob++,
      key: w.key,
      podUid: w.pod.uid,
      podName: w.pod.name,
      namespace: w.pod.namespace,
      container: w.container,
      containerId: w.containerId,
      kind: w.kind,
      handler: w.handler,
      timeoutMs: w.timing.timeoutMs,
      dueAt,
      startedAt: now,
    };
  }

  /**
   * A job ended after `seconds`: its metrics and event (when its worker still probes the same
   * container), the result change it caused, and the waiting probes that start in the slot it freed.
   */
  complete(job: ProbeJob, outcome: ProbeOutcome, now: number, seconds = 0): ProbeEffect[] {
    const effects: ProbeEffect[] = [];
    this.running = Math.max(0, this.running - 1);
    this.counters.completed++;
    const w = this.workers.get(job.key);
    // A result for a worker that is gone, or a container that has since been replaced, is stale.
    if (w && w.containerId === job.containerId) {
      effects.push({ type: 'observe', series: w.series, result: outcome.result, seconds });
      const kind = probeKindName(job.kind);
      if (outcome.result === 'failure') effects.push({ type: 'event', job, reason: 'Unhealthy', message: `${kind} probe failed: ${outcome.message}` });
      else if (outcome.result === 'warning') effects.push({ type: 'event', job, reason: 'ProbeWarning', message: `${kind} probe warning: ${outcome.message}` });
      else if (outcome.result === 'unknown') effects.push({ type: 'event', job, reason: 'Unhealthy', message: `${kind} probe errored: ${outcome.message}` });
    }
    if (w) {
      w.inFlight = false;
      if (w.containerId === job.containerId && !w.onHold) {
        const change = this.apply(w, outcome);
        if (change) effects.push({ type: 'result', change });
      }
    }
    for (const next of this.drain(now)) effects.push({ type: 'start', job: next });
    // (A startup success unblocks liveness and readiness at their next tick: nothing to wake early.)
    effects.push(this.arm());
    return effects;
  }

  private drain(now: number): ProbeJob[] {
    const jobs: ProbeJob[] = [];
    while (this.running < this.max && this.queue.length > 0) {
      const key = this.queue.shift() ?? '';
      const w = this.workers.get(key);
      if (!w || w.waitingSince === undefined) continue;
      const dueAt = w.waitingSince;
      w.waitingSince = undefined;
      if (!this.shouldRun(w, now)) continue;
      jobs.push(this.start(w, dueAt, now));
    }
    return jobs;
  }

  /** Upstream's threshold logic over one outcome. */
  private apply(w: Worker, outcome: ProbeOutcome): ResultChange | undefined {
    if (outcome.result === 'unknown') return undefined;
    const raw = outcome.result === 'failure' ? 'failure' : 'success';
    if (raw === w.lastRaw) w.run++;
    else {
      w.lastRaw = raw;
      w.run = 1;
    }
    if ((raw === 'failure' && w.run < w.timing.failureThreshold) || (raw === 'success' && w.run < w.timing.successThreshold)) return undefined;
    let change: ResultChange | undefined;
    if (w.result !== raw) {
      w.result = raw;
      change = this.change(w, outcome.message);
    }
    if ((w.kind === 'liveness' || w.kind === 'startup') && raw === 'failure') {
      // The container will be restarted: no probes until a new container ID shows up.
      w.onHold = true;
      w.run = 0;
    }
    return change;
  }

  resultOf(podUid: string, container: string, kind: ProbeKind): { containerId: string; result: ProbeResult } | undefined {
    const w = this.workers.get(workerKey(podUid, container, kind));
    return w ? { containerId: w.containerId, result: w.result } : undefined;
  }

  stats(): SchedulerStats {
    return { workers: this.workers.size, running: this.running, waiting: this.queue.length, ...this.counters };
  }
}
