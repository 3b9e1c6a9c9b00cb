// The eviction watcher, on its own worker thread:
//
//   main thread                            eviction thread
//   ───────────                            ───────────────
//   EvictionActor ── comlink control ────> start / stop
//   main bus  ─── bus requests ──────────> eviction.set-pods / set-pod / remove-pod / observe /
//                                          state / evicted / reclaimed
//   main bus  <── bus bridge (port) ───── eviction: observed, threshold, conditions, evict, reclaim
//                                          CRI client (ListContainerStats, ImageFsInfo, Status)
//
// Every interval (upstream's 10 s housekeeping) it reads the node's signals (stats/node-signals:
// the kernel's figures, or the simulated runtime's) and each pod's usage (stats/pod-usage), and
// hands one Observation to EvictionLogic; the effects go out on the bus, where the main thread
// kills the pod an `evict` names (and answers eviction.evicted when it has terminated) and runs
// the node-level reclaim a `reclaim` asks for (answering eviction.reclaimed, after which this
// thread reads the signals again). Rounds never overlap; eviction.observe runs one now, and so
// does a quick check every half second that finds the fast-moving signals past another threshold.
// Owns: the logic's state and the pods it may rank (rebuilt from eviction.set-pods after a
// restart, as the conditions are from the next round).
import { parentPort, workerData } from 'node:worker_threads';
import { expose } from 'comlink';
import { connectCri } from '../../native/cri/index.js';
import { createCriClient, type CriClient } from '../../native/cri/client.js';
import { MessagePortCriTransport } from '../../native/cri/port-transport.js';
import { threadEndpoint } from '../host/thread-endpoint.js';
import { Bus, connectPort } from '../../bus/index.js';
import { EffectRunner } from '../host/effects.js';
import { createRootLogger } from '../../log.js';
import { reportThreadStats } from '../../native/thread-stats.js';
import type { EvictionCandidate } from '../../eviction/ranking.js';
import { HostSignals, imageFsMountpoint, readSimFigures, simSignals, type NodeSignals } from '../../stats/node-signals.js';
import { podUsageOf } from '../../stats/pod-usage.js';
import { ListingCache, readStatsSample } from '../../stats/sample.js';
import { buildSummary, cpuAndMemoryOnly, type StatsSample, type Summary } from '../../stats/summary.js';
import { EvictionLogic, initialEvictionState, type EvictionEffect, type EvictionMessage, type EvictionState, type Observation } from './logic.js';
import { EVICTION_THREAD_TOPICS, type EvictionControl, type EvictionSummary, type EvictionWorkerData } from './protocol.js';

const data = workerData as EvictionWorkerData;
const cri: CriClient | undefined = data.criPort
  ? createCriClient(new MessagePortCriTransport(data.criPort, 'embedded'), { runtimeRequestTimeoutMs: data.runtimeRequestTimeoutMs })
  : data.endpoint
    ? connectCri(data.endpoint, { runtimeRequestTimeoutMs: data.runtimeRequestTimeoutMs, ...(data.imageEndpoint ? { imageEndpoint: data.imageEndpoint } : {}) })
    : undefined;

reportThreadStats('eviction');
const bus = new Bus({ name: 'eviction' });
connectPort(bus, data.events, { topics: EVICTION_THREAD_TOPICS });
// Warnings too: an unreadable signal is said once, and a node with nothing to evict says so.
const log = createRootLogger({ level: 'warn' }).child({ thread: 'eviction' });

const logic = new EvictionLogic(data.settings);
let state: EvictionState = initialEvictionState();
const pods = new Map<string, EvictionCandidate>();
let running = false;
let timer: NodeJS.Timeout | undefined;
let rounds = 0;
let lastRoundMs = 0;
let last: NodeSignals = { signals: {}, unknown: {}, imageFsDedicated: false };
let lastObservedAt = 0;

const noRuntime = { ok: false as const, error: 'no container runtime' };
const host = new HostSignals(data.rootDir, () => (cri ? imageFsMountpoint(cri) : Promise.resolve(noRuntime)));

// The stats summary of the last round, built from its sample and the one before (for CPU rates)
// when first asked for, not every round: an unscraped node does not pay for it.
const listing = new ListingCache();
let lastSample: StatsSample | undefined;
let prevSample: StatsSample | undefined;
let summaryNow: Summary | undefined;
function currentSummary(): Summary | undefined {
  if (!summaryNow && lastSample) summaryNow = buildSummary(lastSample, prevSample);
  return summaryNow;
}

async function observation(): Promise<Observation> {
  const t0 = performance.now();
  const { sample, node } = await readStatsSample(cri, {
    nodeName: data.nodeName,
    rootDir: data.rootDir,
    podLogsDir: data.podLogsDir,
    simNode: data.simNode,
    host,
    listing,
  });
  prevSample = lastSample;
  lastSample = sample;
  summaryNow = undefined;
  const usage = podUsageOf(sample);
  lastRoundMs = performance.now() - t0;
  last = node;
  lastObservedAt = Date.now();
  const candidates = [...pods.values()].map((p) => {
    const u = sample.containerError === undefined ? usage.get(p.uid) : undefined;
    return u ? { ...p, usage: u } : p;
  });
  const obs: Observation = { at: lastObservedAt, signals: node.signals, unknown: node.unknown, imageFsDedicated: node.imageFsDedicated, pods: candidates };
  bus.publish('eviction', { type: 'observed', at: obs.at, signals: { ...node.signals }, unknown: { ...node.unknown } });
  return obs;
}

function apply(msg: EvictionMessage): void {
  const r = logic.handle(state, msg);
  state = r.state;
  runner.run(r.effects);
}

// Rounds run one after another: a round asked for while one runs waits for it.
let chain: Promise<void> = Promise.resolve();
function round(make: (obs: Observation) => EvictionMessage): Promise<void> {
  chain = chain.then(async () => {
    try {
      apply(make(await observation()));
      rounds++;
    } catch (err) {
      log.error({ err: (err as Error).message }, 'eviction round failed');
    }
  });
  return chain;
}

function schedule(): void {
  if (!running) return;
  timer = setTimeout(() => {
    void round((observation) => ({ type: 'observe', observation })).then(schedule);
  }, data.intervalMs);
}

// Between rounds, a quick read of the signals that move fastest (memory on a real node; the
// simulated node's figures, one CRI call): when it meets another set of thresholds than the last
// round, a round runs at once instead of up to an interval later (upstream polls every 10 s).
let quick: NodeJS.Timeout | undefined;
let quickBusy = false;
async function quickCheck(): Promise<void> {
  if (quickBusy || !running) return;
  quickBusy = true;
  try {
    const node = data.simNode ? simSignals(cri ? await readSimFigures(cri) : noRuntime) : host.readMemory();
    if (logic.changesMet(state, node.signals, node.unknown)) await round((observation) => ({ type: 'observe', observation }));
  } catch (err) {
    log.error({ err: (err as Error).message }, 'quick eviction check failed');
  } finally {
    quickBusy = false;
  }
}

const runner = new EffectRunner<EvictionEffect>(
  'eviction',
  {
    'threshold-met': (e) => bus.publish('eviction', { type: 'threshold', at: Date.now(), met: true, ...e.report }),
    'threshold-resolved': (e) => bus.publish('eviction', { type: 'threshold', at: Date.now(), signal: e.signal, hard: e.hard, met: false }),
    conditions: (e) => bus.publish('eviction', { type: 'conditions', at: Date.now(), conditions: e.conditions, added: e.added, removed: e.removed }),
    'signal-unknown': (e) => log.warn({ signal: e.signal, reason: e.reason }, 'eviction signal unknown: its thresholds are not checked until it can be read'),
    'signal-known': (e) => log.warn({ signal: e.signal }, 'eviction signal readable again'),
    reclaim: (e) => bus.publish('eviction', { type: 'reclaim', at: Date.now(), signal: e.signal }),
    'reclaim-sufficient': (e) => log.warn({ signal: e.signal, freedBytes: e.freedBytes }, 'node-level reclaim relieved the pressure without evicting pods'),
    evict: (e) =>
      bus.publish('eviction', {
        type: 'evict',
        at: Date.now(),
        uid: e.uid,
        namespace: e.namespace,
        name: e.name,
        signal: e.signal,
        hard: e.hard,
        gracePeriodSeconds: e.gracePeriodSeconds,
        message: e.status.message,
        annotations: e.annotations,
      }),
    'no-victim': (e) => log.warn({ signal: e.signal, candidates: e.candidates }, 'eviction threshold met and no pod may be evicted'),
  },
  log,
);

function watcherState(): EvictionSummary {
  const s: EvictionSummary = {
    conditions: [...state.conditions],
    met: state.met.flatMap((i) => {
      const t = data.settings.thresholds[i];
      return t ? [{ signal: t.signal, hard: t.hard, since: state.firstObservedAt[i] ?? 0 }] : [];
    }),
    signals: { ...last.signals },
    unknown: { ...last.unknown },
    lastObservedAt,
    rounds,
    lastRoundMs,
    evictions: state.evictions,
    pods: pods.size,
  };
  if (state.evicting) s.evicting = state.evicting.uid;
  return s;
}

const BURST = 100_000;
bus.serve('eviction.set-pods', (req) => {
  pods.clear();
  for (const p of req.pods) pods.set(p.uid, p);
  return { pods: pods.size };
});
bus.serve(
  'eviction.set-pod',
  (req) => {
    pods.set(req.pod.uid, req.pod);
    return {};
  },
  { capacity: BURST },
);
bus.serve(
  'eviction.remove-pod',
  (req) => {
    pods.delete(req.uid);
    return {};
  },
  { capacity: BURST },
);
bus.serve('eviction.observe', async () => {
  await round((observation) => ({ type: 'observe', observation }));
  return watcherState();
});
bus.serve('eviction.state', () => watcherState());
// The summary API's data: the last round's, or a round now when there has been none yet.
bus.serve('stats.summary', async (req) => {
  if (!lastSample) await round((observation) => ({ type: 'observe', observation }));
  const s = currentSummary() ?? { node: { nodeName: data.nodeName, startTime: new Date().toISOString() }, pods: [] };
  const error = lastSample?.containerError;
  return { summary: req.onlyCpuAndMemory ? cpuAndMemoryOnly(s) : s, ...(error !== undefined ? { error } : {}) };
});
bus.serve('eviction.evicted', (req) => {
  apply({ type: 'evicted', uid: req.uid, at: Date.now(), ...(req.error ? { error: req.error } : {}) });
  return {};
});
bus.serve('eviction.reclaimed', (req) => {
  void round((observation) => ({ type: 'reclaimed', observation, freedBytes: req.freedBytes, ...(req.error ? { error: req.error } : {}) }));
  return {};
});

const control: EvictionControl = {
  start() {
    if (running) return;
    running = true;
    // The first round at once: a node that starts under pressure says so before its first interval.
    void round((observation) => ({ type: 'observe', observation })).then(schedule);
    if (data.quickCheckMs > 0) quick = setInterval(() => void quickCheck(), data.quickCheckMs);
  },
  stop() {
    running = false;
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (quick) clearInterval(quick);
    quick = undefined;
  },
};

if (parentPort) expose(control, threadEndpoint(parentPort));
