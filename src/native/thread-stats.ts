// Per-thread cost of the kubelet, on /metrics: event-loop delay and CPU seconds of the main thread
// and of every worker thread (PLEG, probes, each sync pool thread). Which actor eats the CPU is
// the first question at density, and process-wide figures cannot answer it.
//
// Each thread calls reportThreadStats(name) once: it learns its Linux thread id from
// /proc/thread-self (readlinkSync runs on the calling thread), samples its own event-loop delay
// with monitorEventLoopDelay, and every `intervalMs` posts {name, tid, delay quantiles of that
// window} on a BroadcastChannel. The main thread's collectThreadStats(registry) keeps the newest
// report per thread and, at scrape time, reads each thread's utime+stime from
// /proc/self/task/<tid>/stat. A thread that exits drops out; a restarted one (same name, new tid)
// continues its CPU counter from where the old one ended.
import { readFileSync, readlinkSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { BroadcastChannel } from 'node:worker_threads';
import { Counter, Gauge, type Registry } from 'prom-client';

const CHANNEL = 'kubelet-ts:thread-stats';
/** Event-loop delay sampling period, ms (see reportThreadStats). */
const RESOLUTION_MS = 50;
/** USER_HZ: Linux reports task times in clock ticks of 1/100 s on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;

export interface ThreadReport {
  kts: 'thread-stats';
  name: string;
  tid: number;
  /** Event-loop delay over the last window, seconds. */
  p50: number;
  p99: number;
  max: number;
  /** This isolate's V8 heap, bytes: in use, committed, and the young generation's committed part. */
  heapUsed: number;
  heapCommitted: number;
  youngCommitted: number;
  at: number;
}

/** The calling thread's V8 heap figures (its own isolate). */
export function heapFigures(): { heapUsed: number; heapCommitted: number; youngCommitted: number } {
  const h = getHeapStatistics();
  let young = 0;
  for (const sp of getHeapSpaceStatistics()) if (sp.space_name === 'new_space' || sp.space_name === 'new_large_object_space') young += sp.space_size;
  return { heapUsed: h.used_heap_size, heapCommitted: h.total_heap_size, youngCommitted: young };
}

/** This thread's Linux thread id, or undefined where /proc/thread-self does not exist. */
export function currentTid(): number | undefined {
  try {
    const link = readlinkSync('/proc/thread-self'); // "<pid>/task/<tid>"
    const tid = Number(link.slice(link.lastIndexOf('/') + 1));
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds (utime + stime) and resident pages of a /proc/<pid>[/task/<tid>]/stat text. */
export function parseProcStat(stat: string): { cpuSeconds: number; rssPages: number } {
  // Fields after the command name, which is in parentheses and may hold spaces.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { cpuSeconds: (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND, rssPages: Number(f[21]) };
}

/** utime + stime of one thread of this process, in seconds; undefined once the thread is gone. */
export function threadCpuSeconds(tid: number): number | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')).cpuSeconds;
  } catch {
    return undefined;
  }
}

/**
 * In any thread of the kubelet, the main one included: report this thread under `name` every
 * `intervalMs`. Returns the stop function. Costs one histogram and one small message per window.
 */
export function reportThreadStats(name: string, opts: { intervalMs?: number } = {}): () => void {
  const tid = currentTid();
  if (tid === undefined) return () => undefined;
  const channel = new BroadcastChannel(CHANNEL);
  channel.unref();
  // Each sample is a timer wakeup of the thread: 50 ms keeps an idle thread's cost near zero
  // (10 ms cost each sync thread about 0.004 cores at idle, 20 ms 0.0025) and still sees any stall worth a look.
  const eld = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  eld.enable();
  const post = (): void => {
    // The histogram holds the time between its timer's runs, the resolution included: the delay is the excess.
    const s = (ns: number): number => (Number.isFinite(ns) ? Math.max(0, ns / 1e6 - RESOLUTION_MS) / 1e3 : 0);
    channel.postMessage({
      kts: 'thread-stats',
      name,
      tid,
      p50: s(eld.percentile(50)),
      p99: s(eld.percentile(99)),
      max: s(eld.max),
      ...heapFigures(),
      at: Date.now(),
    } satisfies ThreadReport);
    eld.reset();
  };
  // A first report at once, so the thread is known (and its CPU counted) from its start.
  setImmediate(post).unref();
  const timer = setInterval(post, opts.intervalMs ?? 5000);
  timer.unref();
  return () => {
    clearInterval(timer);
    eld.disable();
    channel.close();
  };
}

interface Known {
  report: ThreadReport;
  /** CPU seconds carried over from earlier threads of this name (restarts). */
  base: number;
  /** Last CPU seconds read for the current tid. */
  last: number;
}

/**
 * In the main thread: `kubelet_ts_thread_event_loop_delay_seconds{thread,stat}` (the newest
 * window of each live thread) and `kubelet_ts_thread_cpu_seconds_total{thread}`. Returns the
 * closer. `snapshot()` gives the same figures to in-process callers (benchmarks).
 */
export function collectThreadStats(registry: Registry): { close(): void; snapshot(): ThreadSnapshot[] } {
  const known = new Map<string, Known>();
  /** What the counter holds per name. */
  const counted = new Map<string, number>();
  /** CPU seconds of threads that are gone, per name, for a thread that comes back under it. */
  const carried = new Map<string, number>();
  const channel = new BroadcastChannel(CHANNEL);
  channel.unref();
  channel.onmessage = (event: unknown) => {
    const r = (event as { data?: Partial<ThreadReport> }).data;
    if (r?.kts !== 'thread-stats' || typeof r.name !== 'string' || typeof r.tid !== 'number') return;
    const report = r as ThreadReport;
    const k = known.get(report.name);
    if (!k) known.set(report.name, { report, base: carried.get(report.name) ?? 0, last: 0 });
    else if (k.report.tid !== report.tid) {
      // A new thread under an old name (a restart): keep the old one's total.
      known.set(report.name, { report, base: k.base + k.last, last: 0 });
    } else k.report = report;
  };

  // One scrape runs the delay gauge's collect, then the CPU counter's: the counter takes the
  // snapshot the gauge just read, so /proc is read once per scrape.
  let forCounter: ThreadSnapshot[] | undefined;
  const refresh = (): ThreadSnapshot[] => {
    const out: ThreadSnapshot[] = [];
    for (const [name, k] of known) {
      const cpu = threadCpuSeconds(k.report.tid);
      if (cpu === undefined) {
        // Gone: its CPU is carried should the name come back; no delay series for it.
        carried.set(name, k.base + k.last);
        known.delete(name);
        continue;
      }
      k.last = cpu;
      const r = k.report;
      out.push({
        thread: name,
        tid: r.tid,
        cpuSeconds: k.base + cpu,
        delay: { p50: r.p50, p99: r.p99, max: r.max },
        heap: { used: r.heapUsed ?? 0, committed: r.heapCommitted ?? 0, young: r.youngCommitted ?? 0 },
      });
    }
    return out;
  };

  const delay = new Gauge({
    name: 'kubelet_ts_thread_event_loop_delay_seconds',
    help: 'Event-loop delay of each kubelet thread (main, pleg, probe, sync-N) over its newest 5 s window: stat p50, p99 or max (a gauge, not a summary).',
    labelNames: ['thread', 'stat'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of (forCounter = refresh())) {
        this.set({ thread: s.thread, stat: 'p50' }, s.delay.p50);
        this.set({ thread: s.thread, stat: 'p99' }, s.delay.p99);
        this.set({ thread: s.thread, stat: 'max' }, s.delay.max);
      }
    },
  });
  const cpu = new Counter({
    name: 'kubelet_ts_thread_cpu_seconds_total',
    help: "CPU seconds (user + system) used by each kubelet thread, from /proc/self/task; a restarted thread continues its name's count.",
    labelNames: ['thread'],
    registers: [registry],
    collect() {
      const snap = forCounter ?? refresh();
      forCounter = undefined;
      for (const s of snap) {
        const before = counted.get(s.thread) ?? 0;
        if (s.cpuSeconds > before) this.inc({ thread: s.thread }, s.cpuSeconds - before);
        counted.set(s.thread, Math.max(before, s.cpuSeconds));
      }
    },
  });
  const heap = new Gauge({
    name: 'kubelet_ts_thread_heap_bytes',
    help: "V8 heap of each kubelet thread's isolate (main, pleg, probe, sync-N) at its newest report: kind used, committed, or young (the committed young generation, part of committed).",
    labelNames: ['thread', 'kind'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [name, k] of known) {
        this.set({ thread: name, kind: 'used' }, k.report.heapUsed ?? 0);
        this.set({ thread: name, kind: 'committed' }, k.report.heapCommitted ?? 0);
        this.set({ thread: name, kind: 'young' }, k.report.youngCommitted ?? 0);
      }
    },
  });
  void delay;
  void cpu;
  void heap;
  return { close: () => channel.close(), snapshot: refresh };
}

export interface ThreadSnapshot {
  thread: string;
  tid: number;
  cpuSeconds: number;
  delay: { p50: number; p99: number; max: number };
  /** V8 heap of its isolate at its newest report, bytes. */
  heap: { used: number; committed: number; young: number };
}
