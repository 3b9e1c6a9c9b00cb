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
// What to probe, when, and what an outcome means is ProbeLogic's (logic.ts); this file carries
// out its effects through the one EffectRunner: its one timer (armed for the earliest due
// probe), the probes it starts, the result changes and events it publishes, the prober
// metrics, and the lateness it counts, so the main thread does no per-probe work. Everything it holds is rebuilt from probes.set-pods after a
// restart: results start over from their initial values, as after an upstream kubelet restart.
import { parentPort, workerData } from 'node:worker_threads';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { expose } from 'comlink';
import { connectCri } from '../../native/cri/index.js';
import { createCriClient, type CriClient } from '../../native/cri/client.js';
import { MessagePortCriTransport } from '../../native/cri/port-transport.js';
import { threadEndpoint } from '../host/thread-endpoint.js';
import { Bus, connectPort } from '../../bus/index.js';
import { ProbeLogic, type ProbeEffect, type ProbeJob, type ProbeOutcome, type ResultChange } from './logic.js';
import { EffectRunner } from '../host/effects.js';
import { createRootLogger } from '../../log.js';
import { runProbe, type ProbeDeps } from '../../probes/run-probe.js';
import { ProberMetrics } from '../../probes/metrics.js';
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

const logic = new ProbeLogic({ now: () => Date.now(), maxConcurrent: data.maxConcurrent });
const metrics = new ProberMetrics();
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

function arm(at: number | undefined): void {
  if (!running) return;
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
  runner.run(logic.due(Date.now()));
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
  runner.run(logic.complete(job, outcome, Date.now(), seconds));
}

// (This thread logs only what goes wrong, on the process's stdout as the main thread does.)
const threadLog = createRootLogger({ level: 'error' }).child({ thread: 'probes' });
const runner = new EffectRunner<ProbeEffect>(
  'probes',
  {
    start: (e) => startJob(e.job),
    result: (e) => publishChange(e.change),
    event: (e) => podEvent(e.job, e.reason, e.message),
    observe: (e) => metrics.observe(e.series, e.result, e.seconds),
    forget: (e) => metrics.forget(e.series),
    arm: (e) => arm(e.at),
  },
  threadLog,
);

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
    ...logic.stats(),
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
    runner.run(logic.setPod(req.target));
    return {};
  },
  { capacity: BURST },
);
bus.serve(
  'probes.remove-pod',
  (req) => {
    runner.run(logic.removePod(req.uid));
    return {};
  },
  { capacity: BURST },
);
bus.serve('probes.set-pods', (req) => {
  runner.run(logic.setPods(req.targets));
  return { pods: logic.podCount };
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
    arm(logic.nextWakeAt());
  },
  stop() {
    running = false;
    if (timer) clearTimeout(timer);
    timer = undefined;
    timerAt = Infinity;
  },
};

if (parentPort) expose(control, threadEndpoint(parentPort));
