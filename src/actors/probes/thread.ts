// The probe scheduler, on its own worker thread:
//
//   main thread                          probe thread
//   ───────────                          ────────────
//   ProbeActor ── comlink control ─────> start / stop
//   main bus  ─── bus requests ─────────> probes.set-pod / remove-pod / set-pods / stats / metrics
//   main bus  <── bus bridge (port) ──── probe.result (changes only), pod.event (Unhealthy, ProbeWarning)
//                                        CRI client for exec probes (endpoint, or a port to the
//                                        embedded runtime); http / tcp / grpc straight to the pod
//
// The schedule itself is the pure ProbeScheduler (src/probes/scheduler.ts); this file owns its
// one timer (armed for the earliest due probe), runs the probes it hands out, feeds outcomes
// back, publishes result changes and events, and counts prober metrics and lateness here, so
// the main thread does no per-probe work. Everything it holds is rebuilt from probes.set-pods after a
// restart: results start over from their initial values, as after an upstream kubelet restart.
import { parentPort, workerData } from 'node:worker_threads';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { expose } from 'comlink';
import { connectCri } from '../../native/cri/index.js';
import { createCriClient, type CriClient } from '../../native/cri/client.js';
import { MessagePortCriTransport } from '../../native/cri/port-transport.js';
import { threadEndpoint } from '../host/thread-endpoint.js';
import { Bus, connectPort } from '../../bus/index.js';
import { ProbeScheduler, type ProbeJob, type ProbeOutcome, type ResultChange } from '../../probes/scheduler.js';
import { runProbe, type ProbeDeps } from '../../probes/run-probe.js';
import { ProberMetrics, type ProbeSeries } from '../../probes/metrics.js';
import { probeKindName, type ProbePodTarget } from '../../probes/spec.js';
import { PROBE_THREAD_TOPICS, type ProbeControl, type ProbeThreadStats, type ProbeWorkerData } from './protocol.js';
import { reportThreadStats } from '../../native/thread-stats.js';

const data = workerData as ProbeWorkerData;
const cri: CriClient | undefined = data.criPort
  ? createCriClient(new MessagePortCriTransport(data.criPort, 'embedded'), { runtimeRequestTimeoutMs: data.runtimeRequestTimeoutMs })
  : data.endpoint
    ? connectCri(data.endpoint, { runtimeRequestTimeoutMs: data.runtimeRequestTimeoutMs, ...(data.imageEndpoint ? { imageEndpoint: data.imageEndpoint } : {}) })
    : undefined;

reportThreadStats('probe');
const bus = new Bus({ name: 'probe' });
connectPort(bus, data.events, { topics: PROBE_THREAD_TOPICS });

const scheduler = new ProbeScheduler({ now: () => Date.now(), maxConcurrent: data.maxConcurrent });
const metrics = new ProberMetrics();
/** Metric series per worker key, so a dropped worker's series can be deleted. */
const series = new Map<string, ProbeSeries>();
const pods = new Map<string, ProbePodTarget>();
let running = false;
let timer: NodeJS.Timeout | undefined;
let timerAt = Infinity;

// Lateness samples in a ring (the newest 200k), enough for percentiles over a benchmark run.
const RING = 200_000;
const lateness = new Float64Array(RING);
let samples = 0;
let completedSinceReset = 0;
let resetAt = Date.now();
// 50 ms sampling: each sample is a timer wakeup of this thread, and at 1 ms they were most of
// an idle node's probe-thread CPU (0.024 cores with no probes at all, measured by the harness).
const ELD_RESOLUTION_MS = 50;
const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
eld.enable();

function arm(): void {
  if (!running) return;
  const at = scheduler.nextWakeAt();
  if (at === undefined) {
    if (timer) clearTimeout(timer);
    timer = undefined;
    timerAt = Infinity;
    return;
  }
  if (timer && at >= timerAt) return;
  if (timer) clearTimeout(timer);
  timerAt = at;
  timer = setTimeout(wake, Math.max(0, at - Date.now()));
}

function wake(): void {
  timer = undefined;
  timerAt = Infinity;
  if (!running) return;
  for (const job of scheduler.due(Date.now())) startJob(job);
  arm();
}

function publishChange(c: ResultChange): void {
  bus.publish('probe.result', {
    type: 'result',
    podUid: c.podUid,
    containerName: c.container,
    containerId: c.containerId,
    probe: c.kind,
    result: c.result,
    ...(c.message ? { message: c.message } : {}),
    at: Date.now(),
  });
}

function podEvent(job: ProbeJob, reason: string, message: string): void {
  bus.publish('pod.event', {
    type: 'event',
    uid: job.podUid,
    namespace: job.namespace,
    name: job.podName,
    eventType: 'Warning',
    reason,
    message,
    container: job.container,
    at: Date.now(),
  });
}

/** The same for every probe: built once, not per probe. */
const deps: ProbeDeps = { ...(cri ? { cri } : {}), version: data.version };

function unknownOutcome(err: unknown): ProbeOutcome {
  return { result: 'unknown', message: err instanceof Error ? err.message : String(err) };
}

function startJob(job: ProbeJob): void {
  lateness[samples % RING] = Math.max(0, job.startedAt - job.dueAt);
  samples++;
  const t0 = performance.now();
  runProbe(job.handler, job.containerId, job.timeoutMs, deps).then(
    (outcome) => finish(job, outcome, (performance.now() - t0) / 1000),
    (err: unknown) => finish(job, unknownOutcome(err), (performance.now() - t0) / 1000),
  );
}

function finish(job: ProbeJob, outcome: ProbeOutcome, seconds: number): void {
  completedSinceReset++;
  const s = series.get(job.key);
  const live = s !== undefined && scheduler.containerIdOf(job.key) === job.containerId;
  if (live) {
    metrics.observe(s, outcome.result, seconds);
    // Upstream records an event for every failed attempt (thresholds decide only the result).
    const kind = probeKindName(job.kind);
    if (outcome.result === 'failure') podEvent(job, 'Unhealthy', `${kind} probe failed: ${outcome.message}`);
    else if (outcome.result === 'warning') podEvent(job, 'ProbeWarning', `${kind} probe warning: ${outcome.message}`);
    else if (outcome.result === 'unknown') podEvent(job, 'Unhealthy', `${kind} probe errored: ${outcome.message}`);
  }
  const { change, next } = scheduler.complete(job, outcome, Date.now());
  if (change) publishChange(change);
  for (const j of next) startJob(j);
  // A startup success unblocks liveness and readiness at their next tick; nothing to re-arm early.
  arm();
}

function setPod(target: ProbePodTarget): void {
  if (target.containers.length === 0) {
    removePod(target.uid);
    return;
  }
  pods.set(target.uid, target);
  const changes = scheduler.setPod(target);
  const keep = new Set<string>();
  for (const c of target.containers) {
    for (const p of c.probes) {
      const key = `${target.uid}/${c.name}/${p.kind}`;
      keep.add(key);
      if (!series.has(key)) series.set(key, { kind: p.kind, container: c.name, pod: target.name, namespace: target.namespace, podUid: target.uid });
    }
  }
  for (const [key, s] of series) {
    if (s.podUid === target.uid && !keep.has(key)) {
      metrics.forget(s);
      series.delete(key);
    }
  }
  for (const c of changes) publishChange(c);
  arm();
}

function removePod(uid: string): void {
  pods.delete(uid);
  scheduler.removePod(uid);
  for (const [key, s] of series) {
    if (s.podUid === uid) {
      metrics.forget(s);
      series.delete(key);
    }
  }
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

function statsNow(): ProbeThreadStats {
  const n = Math.min(samples, RING);
  const sorted = lateness.slice(0, n).sort();
  const secs = Math.max(0.001, (Date.now() - resetAt) / 1000);
  const lag = (ns: number): number => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
  return {
    ...scheduler.stats(),
    lateness: { count: samples, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: n > 0 ? (sorted[n - 1] ?? 0) : 0 },
    // (The histogram holds the time between its timer's runs: the delay is what exceeds the resolution.)
    eventLoopDelay: { p50: lag(eld.percentile(50)), p99: lag(eld.percentile(99)), max: lag(eld.max) },
    probesPerSecond: completedSinceReset / secs,
  };
}

// The probe thread's commands, on this thread's bus (they arrive over the bridge from the main
// thread, or from anything joined to it).
// (A burst of pods sends one set-pod each: their mailboxes hold far more than the default.)
const BURST = 100_000;
bus.serve(
  'probes.set-pod',
  (req) => {
    setPod(req.target);
    return {};
  },
  { capacity: BURST },
);
bus.serve(
  'probes.remove-pod',
  (req) => {
    removePod(req.uid);
    return {};
  },
  { capacity: BURST },
);
bus.serve('probes.set-pods', (req) => {
  const want = new Set(req.targets.map((t) => t.uid));
  for (const uid of [...pods.keys()]) if (!want.has(uid)) removePod(uid);
  for (const t of req.targets) setPod(t);
  return { pods: pods.size };
});
bus.serve('probes.stats', () => statsNow());
bus.serve('probes.reset-stats', () => {
  samples = 0;
  completedSinceReset = 0;
  resetAt = Date.now();
  eld.reset();
  return {};
});
bus.serve('probes.metrics', async () => ({ text: await metrics.text() }));

const control: ProbeControl = {
  start() {
    if (running) return;
    running = true;
    arm();
  },
  stop() {
    running = false;
    if (timer) clearTimeout(timer);
    timer = undefined;
    timerAt = Infinity;
  },
};

if (parentPort) expose(control, threadEndpoint(parentPort));
