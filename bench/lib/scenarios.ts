// The harness's scenarios, over any rig (bench/lib/rig.ts). Every scenario starts with a burst to
// N pods (timed: that is the burst-start scenario), then:
//   steady  nothing changes for --duration s after --settle s: the kubelet's idle cost.
//   churn   every second, --rate pods are deleted (oldest first) and as many created, for
//           --duration s: startup and deletion latency under change.
//   crash   --crash-share of the containers die at once: sync latency (exit -> a status that
//           shows it), restart latency (exit -> running again), time until all are back.
// While it runs, a sampler reads CPU and RSS of each process (kubelet, runtime, harness) every
// 500 ms and the kubelet's /metrics every 2 s (per-thread event-loop delay and CPU, bus queue
// depth and drops, CRI calls, status PATCHes).
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parsePromText, promBy, promSum, type PromSample } from './prom-text.js';
import { procSampleAll } from './proc.js';
import type { PodView, Rig } from './rig.js';
import { runBounded, summarize, type Summary } from './stats.js';

export const SCENARIOS = ['burst', 'steady', 'churn', 'crash'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface ScenarioOptions {
  scenario: Scenario;
  pods: number;
  /** steady/churn: measured window, s. */
  durationS: number;
  /** steady/crash: wait after all Running before measuring, s. */
  settleS: number;
  /** churn: pods deleted and created per second. */
  rate: number;
  /** crash: share of the pods whose container dies. */
  crashShare: number;
  /** API creates in flight. */
  createConcurrency: number;
  /** Give up waiting for pods after this long, s. */
  timeoutS: number;
  qps: number;
  burst: number;
}

export interface Timeline {
  /** Seconds since the run started. */
  t: number[];
  running: number[];
  kubeletCores: number[];
  kubeletRssMb: number[];
  runtimeCores: number[];
  runtimeRssMb: number[];
}

export interface ThreadFigures {
  thread: string;
  cpuSeconds: number;
  /** Largest 5 s-window p99 event-loop delay seen, ms. */
  delayP99MaxMs: number;
  /** Peak committed V8 heap of its isolate, and of its young generation, MB (0 where not reported). */
  heapPeakMb: number;
  youngPeakMb: number;
  delayMaxMs: number;
}

export interface RunResult {
  repeat: number;
  floor: { totalMs: number; p50Ms: number; p99Ms: number } | undefined;
  burst: {
    allRunningMs: number;
    podsPerSecond: number;
    startupMs: Summary;
    ratioToFloor: number | undefined;
    /** Time the client-side limit needs for one status write per pod beyond the burst (api rigs). */
    qpsBoundMs: number | undefined;
    ratioToQpsBound: number | undefined;
    statusPatchesPerPod: number | undefined;
    criCallsPerPod: Record<string, number> | undefined;
    startupSamples: number[];
  };
  steady:
    | {
        windowS: number;
        kubeletCores: number;
        runtimeCores: number;
        kubeletRssMb: number;
        kubeletRssPeakMb: number;
        criCallsPerPodPerMinute: number | undefined;
        /** CPU of each kubelet thread over the window, cores; 'other' is the rest of the process (V8 and libuv threads, GC). */
        threadCores: Record<string, number> | undefined;
      }
    | undefined;
  churn:
    | {
        windowS: number;
        rate: number;
        created: number;
        removed: number;
        startupMs: Summary;
        deleteMs: Summary;
        startupSamples: number[];
        deleteSamples: number[];
      }
    | undefined;
  crash: { crashed: number; syncMs: Summary; restartMs: Summary; allRestartedMs: number; syncSamples: number[]; restartSamples: number[] } | undefined;
  cpu: { kubeletSeconds: number; runtimeSeconds: number; harnessSeconds: number; wallSeconds: number };
  rss: { kubeletPeakMb: number; runtimePeakMb: number };
  threads: ThreadFigures[];
  bus: { dropped: number; queueDepthMax: number } | undefined;
  timeline: Timeline;
  /** Per thread: [seconds since start, p99 delay ms] each scrape. */
  threadDelay: Record<string, [number, number][]>;
}

export interface ProgressSink {
  update(s: { phase: string; running: number; total: number; created: number; kubeletCores: number; kubeletRssMb: number }): void;
  done(): void;
}

class PodTracker {
  readonly created = new Map<string, number>();
  readonly runningAt = new Map<string, number>();
  readonly gone = new Map<string, number>();
  readonly last = new Map<string, PodView>();
  private waiters: (() => void)[] = [];
  /** Called on every view after the tracker's own bookkeeping (the crash scenario's). */
  extra: ((v: PodView, at: number) => void) | undefined;

  constructor(rig: Rig) {
    rig.onView((v) => {
      const at = performance.now();
      this.last.set(v.name, v);
      if (v.running && v.phase === 'Running' && !this.runningAt.has(v.name) && this.created.has(v.name)) this.runningAt.set(v.name, at);
      this.extra?.(v, at);
      this.wake();
    });
    rig.onGone((n) => {
      if (!this.gone.has(n)) this.gone.set(n, performance.now());
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `done()` holds; rejects after `timeoutMs` with `what` and the count. */
  async until(what: string, done: () => boolean, count: () => string, timeoutMs: number): Promise<void> {
    const end = performance.now() + timeoutMs;
    while (!done()) {
      const left = end - performance.now();
      if (left <= 0) throw new Error(`${what}: ${count()} after ${Math.round(timeoutMs / 1000)} s`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  runningCount(): number {
    let n = 0;
    for (const v of this.last.values()) if (v.running && v.phase === 'Running') n++;
    return n;
  }
}

interface MetricsPoint {
  samples: PromSample[];
}

async function scrape(rig: Rig): Promise<MetricsPoint | undefined> {
  const text = await rig.metrics().catch(() => undefined);
  return text === undefined ? undefined : { samples: parsePromText(text) };
}

function criCalls(m: MetricsPoint | undefined): Map<string, number> | undefined {
  return m ? promBy(m.samples, 'kubelet_runtime_operations_total', 'operation_type') : undefined;
}

function patches(m: MetricsPoint | undefined): number | undefined {
  if (!m) return undefined;
  const n = promSum(m.samples, 'rest_client_requests_total', { method: 'PATCH' });
  return n;
}

function callsDelta(a: Map<string, number> | undefined, b: Map<string, number> | undefined, per: number): Record<string, number> | undefined {
  if (!a || !b) return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of b) {
    const d = v - (a.get(k) ?? 0);
    if (d > 0) out[k] = d / per;
  }
  return out;
}

/** Samples processes every 500 ms and the kubelet's metrics every 2 s. */
class Sampler {
  readonly timeline: Timeline = { t: [], running: [], kubeletCores: [], kubeletRssMb: [], runtimeCores: [], runtimeRssMb: [] };
  readonly threadDelay: Record<string, [number, number][]> = {};
  readonly threadPeak = new Map<string, { p99: number; max: number; cpu: number; heap: number; young: number }>();
  queueDepthMax = 0;
  dropped0: number | undefined;
  droppedLast: number | undefined;
  kubeletRssPeak = 0;
  runtimeRssPeak = 0;
  private timer: NodeJS.Timeout | undefined;
  private scrapeTimer: NodeJS.Timeout | undefined;
  private prev: { at: number; k: number; r: number } | undefined;
  private scraping = false;
  readonly t0 = performance.now();
  readonly cpu0: { k: number; r: number; h: number };

  constructor(
    private readonly rig: Rig,
    private readonly tracker: PodTracker,
    private readonly progress: ProgressSink,
    private readonly phase: () => string,
    private readonly total: number,
  ) {
    const p = rig.processes();
    this.cpu0 = { k: procSampleAll(p.kubelet).cpuSeconds, r: procSampleAll(p.runtime).cpuSeconds, h: procSampleAll(p.harness).cpuSeconds };
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), 500);
    this.scrapeTimer = setInterval(() => void this.scrapeOnce(), 2000);
  }

  cpuNow(): { k: number; r: number; h: number } {
    const p = this.rig.processes();
    return { k: procSampleAll(p.kubelet).cpuSeconds, r: procSampleAll(p.runtime).cpuSeconds, h: procSampleAll(p.harness).cpuSeconds };
  }

  private sample(): void {
    const now = performance.now();
    const p = this.rig.processes();
    const k = procSampleAll(p.kubelet);
    const r = procSampleAll(p.runtime);
    this.kubeletRssPeak = Math.max(this.kubeletRssPeak, k.rssMb);
    this.runtimeRssPeak = Math.max(this.runtimeRssPeak, r.rssMb);
    const dt = this.prev ? (now - this.prev.at) / 1000 : 0;
    const kc = this.prev && dt > 0 ? (k.cpuSeconds - this.prev.k) / dt : 0;
    const rc = this.prev && dt > 0 ? (r.cpuSeconds - this.prev.r) / dt : 0;
    this.prev = { at: now, k: k.cpuSeconds, r: r.cpuSeconds };
    const running = this.tracker.runningCount();
    const tl = this.timeline;
    tl.t.push((now - this.t0) / 1000);
    tl.running.push(running);
    tl.kubeletCores.push(kc);
    tl.kubeletRssMb.push(k.rssMb);
    tl.runtimeCores.push(rc);
    tl.runtimeRssMb.push(r.rssMb);
    this.progress.update({ phase: this.phase(), running, total: this.total, created: this.tracker.created.size, kubeletCores: kc, kubeletRssMb: k.rssMb });
  }

  private async scrapeOnce(): Promise<void> {
    if (this.scraping) return;
    this.scraping = true;
    try {
      const t = (performance.now() - this.t0) / 1000;
      const threads = this.rig.threads();
      const m = threads ? undefined : await scrape(this.rig);
      const rows: { thread: string; p99: number; max: number; cpu: number; heap: number; young: number }[] = [];
      if (threads)
        for (const s of threads)
          rows.push({
            thread: s.thread,
            p99: s.delay.p99 * 1000,
            max: s.delay.max * 1000,
            cpu: s.cpuSeconds,
            heap: s.heap.committed / 1e6,
            young: s.heap.young / 1e6,
          });
      else if (m) {
        const p99 = promBy(m.samples, 'kubelet_ts_thread_event_loop_delay_seconds', 'thread', { stat: 'p99' });
        const max = promBy(m.samples, 'kubelet_ts_thread_event_loop_delay_seconds', 'thread', { stat: 'max' });
        const cpu = promBy(m.samples, 'kubelet_ts_thread_cpu_seconds_total', 'thread');
        const heap = promBy(m.samples, 'kubelet_ts_thread_heap_bytes', 'thread', { kind: 'committed' });
        const young = promBy(m.samples, 'kubelet_ts_thread_heap_bytes', 'thread', { kind: 'young' });
        for (const [thread, v] of p99)
          rows.push({
            thread,
            p99: v * 1000,
            max: (max.get(thread) ?? 0) * 1000,
            cpu: cpu.get(thread) ?? 0,
            heap: (heap.get(thread) ?? 0) / 1e6,
            young: (young.get(thread) ?? 0) / 1e6,
          });
      }
      for (const r of rows) {
        (this.threadDelay[r.thread] ??= []).push([t, r.p99]);
        const peak = this.threadPeak.get(r.thread) ?? { p99: 0, max: 0, cpu: 0, heap: 0, young: 0 };
        this.threadPeak.set(r.thread, {
          p99: Math.max(peak.p99, r.p99),
          max: Math.max(peak.max, r.max),
          cpu: Math.max(peak.cpu, r.cpu),
          heap: Math.max(peak.heap, r.heap),
          young: Math.max(peak.young, r.young),
        });
      }
      const bus = m ?? (threads ? await scrape(this.rig) : undefined);
      if (bus) {
        let depth = 0;
        for (const s of bus.samples)
          if (s.name === 'kubelet_ts_bus_queue_depth' && s.labels.subscription !== 'harness' && s.labels.subscription !== 'harness-gone')
            depth = Math.max(depth, s.value);
        this.queueDepthMax = Math.max(this.queueDepthMax, depth);
        const dropped = promSum(bus.samples, 'kubelet_ts_bus_dropped_total');
        this.dropped0 ??= dropped;
        this.droppedLast = dropped;
      }
    } finally {
      this.scraping = false;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.scrapeTimer);
    this.sample();
    await this.scrapeOnce();
  }
}

/** CPU seconds per kubelet thread: from the in-process kubelet, or its kubelet_ts_thread_cpu_seconds_total. */
function threadCpu(rig: Rig, m: MetricsPoint | undefined): Map<string, number> | undefined {
  const t = rig.threads();
  if (t) return new Map(t.map((x) => [x.thread, x.cpuSeconds]));
  return m ? promBy(m.samples, 'kubelet_ts_thread_cpu_seconds_total', 'thread') : undefined;
}

function pick<T>(xs: readonly T[], share: number): T[] {
  // Evenly spread over the creation order: every k-th pod.
  const n = Math.max(1, Math.round(xs.length * share));
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(xs[Math.floor((i * xs.length) / n)] as T);
  return out;
}

export async function runScenario(rig: Rig, o: ScenarioOptions, repeat: number, progress: ProgressSink): Promise<RunResult> {
  const tracker = new PodTracker(rig);
  let phase = 'burst';
  const sampler = new Sampler(rig, tracker, progress, () => phase, o.pods);
  sampler.start();
  const timeoutMs = o.timeoutS * 1000;
  const floor = rig.floor;
  const names = Array.from({ length: o.pods }, (_, i) => `p-${i}`);
  let nextIndex = o.pods;
  const result: Partial<RunResult> = { repeat };
  try {
    // ---- burst to N ----
    const m0 = await scrape(rig);
    const t0 = performance.now();
    await runBounded(names.length, o.createConcurrency, async (i) => {
      const name = names[i] as string;
      await rig.create(name);
      tracker.created.set(name, performance.now());
    });
    await tracker.until(
      'burst',
      () => names.every((n) => tracker.runningAt.has(n)),
      () => `${names.filter((n) => tracker.runningAt.has(n)).length}/${names.length} Running`,
      timeoutMs,
    );
    const allRunningMs = Math.max(...names.map((n) => (tracker.runningAt.get(n) ?? 0) - t0));
    const startup = names.map((n) => (tracker.runningAt.get(n) ?? 0) - (tracker.created.get(n) ?? t0));
    // CRI calls made on worker threads reach the registry in batches (250 ms), and late status
    // writes of the burst are the burst's too: wait a little before reading the counters.
    await sleep(rig.viaApi ? 3000 : 1000);
    const m1 = await scrape(rig);
    const qpsBoundMs = rig.viaApi && o.qps > 0 ? (Math.max(0, o.pods - o.burst) / o.qps) * 1000 : undefined;
    const p0 = patches(m0);
    const p1 = patches(m1);
    result.floor = floor ? { totalMs: floor.start.totalMs, p50Ms: floor.start.latencyMs.p50, p99Ms: floor.start.latencyMs.p99 } : undefined;
    result.burst = {
      allRunningMs,
      podsPerSecond: o.pods / (allRunningMs / 1000),
      startupMs: summarize(startup),
      ratioToFloor: floor ? allRunningMs / floor.start.totalMs : undefined,
      qpsBoundMs,
      ratioToQpsBound: qpsBoundMs ? allRunningMs / qpsBoundMs : undefined,
      statusPatchesPerPod: p0 !== undefined && p1 !== undefined && qpsBoundMs !== undefined ? (p1 - p0) / o.pods : undefined,
      criCallsPerPod: callsDelta(criCalls(m0), criCalls(m1), o.pods),
      startupSamples: startup,
    };

    if (o.scenario === 'steady') {
      phase = 'settle';
      await sleep(o.settleS * 1000);
      phase = 'steady';
      const c0 = sampler.cpuNow();
      const ms0 = await scrape(rig);
      const th0 = threadCpu(rig, ms0);
      const w0 = performance.now();
      const rss: number[] = [];
      let peak = 0;
      const end = w0 + o.durationS * 1000;
      while (performance.now() < end) {
        await sleep(Math.min(1000, end - performance.now()));
        const r = procSampleAll(rig.processes().kubelet).rssMb;
        rss.push(r);
        peak = Math.max(peak, r);
      }
      const c1 = sampler.cpuNow();
      const ms1 = await scrape(rig);
      const th1 = threadCpu(rig, ms1);
      const secs = (performance.now() - w0) / 1000;
      let threadCores: Record<string, number> | undefined;
      if (th0 && th1) {
        threadCores = {};
        let known = 0;
        for (const [t, v] of th1) {
          const d = v - (th0.get(t) ?? 0);
          known += d;
          threadCores[t] = d / secs;
        }
        threadCores.other = Math.max(0, (c1.k - c0.k - known) / secs);
      }
      const calls = callsDelta(criCalls(ms0), criCalls(ms1), o.pods);
      result.steady = {
        windowS: secs,
        kubeletCores: (c1.k - c0.k) / secs,
        runtimeCores: (c1.r - c0.r) / secs,
        kubeletRssMb: rss.reduce((a, b) => a + b, 0) / Math.max(1, rss.length),
        kubeletRssPeakMb: peak,
        criCallsPerPodPerMinute: calls ? (Object.values(calls).reduce((a, b) => a + b, 0) * 60) / secs : undefined,
        threadCores,
      };
    }

    if (o.scenario === 'churn') {
      phase = 'churn';
      const alive = [...names];
      const deletedAt = new Map<string, number>();
      const fresh: string[] = [];
      const w0 = performance.now();
      const end = w0 + o.durationS * 1000;
      let tick = w0;
      while (performance.now() < end) {
        const wave: Promise<void>[] = [];
        for (let i = 0; i < o.rate && alive.length > 0; i++) {
          const victim = alive.shift() as string;
          wave.push(rig.remove(victim).then(() => void deletedAt.set(victim, performance.now())));
          const name = `p-${nextIndex++}`;
          fresh.push(name);
          alive.push(name);
          wave.push(rig.create(name).then(() => void tracker.created.set(name, performance.now())));
        }
        await Promise.all(wave);
        tick += 1000;
        const wait = tick - performance.now();
        if (wait > 0) await sleep(wait);
      }
      const windowS = (performance.now() - w0) / 1000;
      phase = 'churn: draining';
      const removed = [...deletedAt.keys()];
      await tracker.until(
        'churn',
        () => fresh.every((n) => tracker.runningAt.has(n)) && removed.every((n) => tracker.gone.has(n)),
        () =>
          `${fresh.filter((n) => tracker.runningAt.has(n)).length}/${fresh.length} new Running, ${removed.filter((n) => tracker.gone.has(n)).length}/${removed.length} deleted gone`,
        timeoutMs,
      );
      const startupSamples = fresh.map((n) => (tracker.runningAt.get(n) ?? 0) - (tracker.created.get(n) ?? 0));
      const deleteSamples = removed.map((n) => (tracker.gone.get(n) ?? 0) - (deletedAt.get(n) ?? 0));
      result.churn = {
        windowS,
        rate: o.rate,
        created: fresh.length,
        removed: removed.length,
        startupMs: summarize(startupSamples),
        deleteMs: summarize(deleteSamples),
        startupSamples,
        deleteSamples,
      };
    }

    if (o.scenario === 'crash') {
      phase = 'settle';
      await sleep(o.settleS * 1000);
      phase = 'crash';
      const victims = pick(names, o.crashShare);
      const before = new Map(victims.map((n) => [n, tracker.last.get(n)?.restarts ?? 0]));
      const seenDown = new Map<string, number>();
      const backUp = new Map<string, number>();
      let crashAt = Infinity;
      tracker.extra = (v, at) => {
        const b = before.get(v.name);
        if (b === undefined || at < crashAt) return;
        if (!seenDown.has(v.name) && (v.anyDown || v.restarts > b)) seenDown.set(v.name, at);
        if (!backUp.has(v.name) && v.running && v.restarts > b) {
          backUp.set(v.name, at);
          if (!seenDown.has(v.name)) seenDown.set(v.name, at);
        }
      };
      const c = await rig.crash(victims);
      crashAt = c.at;
      await tracker.until(
        'crash',
        () => victims.every((n) => backUp.has(n)),
        () => `${backUp.size}/${victims.length} restarted`,
        timeoutMs,
      );
      const syncSamples = victims.map((n) => (seenDown.get(n) ?? 0) - crashAt);
      const restartSamples = victims.map((n) => (backUp.get(n) ?? 0) - crashAt);
      result.crash = {
        crashed: c.crashed,
        syncMs: summarize(syncSamples),
        restartMs: summarize(restartSamples),
        allRestartedMs: Math.max(...restartSamples),
        syncSamples,
        restartSamples,
      };
    }
  } finally {
    phase = 'done';
    await sampler.stop();
    progress.done();
  }
  const c = sampler.cpuNow();
  const threads: ThreadFigures[] = [...sampler.threadPeak.entries()]
    .map(([thread, p]) => ({ thread, cpuSeconds: p.cpu, delayP99MaxMs: p.p99, delayMaxMs: p.max, heapPeakMb: p.heap, youngPeakMb: p.young }))
    .sort((a, b) => a.thread.localeCompare(b.thread));
  return {
    repeat,
    floor: result.floor,
    burst: result.burst,
    steady: result.steady,
    churn: result.churn,
    crash: result.crash,
    cpu: {
      kubeletSeconds: c.k - sampler.cpu0.k,
      runtimeSeconds: c.r - sampler.cpu0.r,
      harnessSeconds: c.h - sampler.cpu0.h,
      wallSeconds: (performance.now() - sampler.t0) / 1000,
    },
    rss: { kubeletPeakMb: sampler.kubeletRssPeak, runtimePeakMb: sampler.runtimeRssPeak },
    threads,
    bus: sampler.droppedLast !== undefined ? { dropped: sampler.droppedLast - (sampler.dropped0 ?? 0), queueDepthMax: sampler.queueDepthMax } : undefined,
    timeline: sampler.timeline,
    threadDelay: sampler.threadDelay,
  };
}
