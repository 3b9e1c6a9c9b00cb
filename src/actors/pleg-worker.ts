// The PLEG relister, on its own worker thread:
//
//   main thread                         PLEG thread
//   ───────────                         ───────────
//   PlegActor ── comlink control ──────> start / stop / configure / stats / health
//   main bus  <── bus bridge (port) ──── topics pod.state and pleg.relist
//                                        CRI client (endpoint, or a port to the embedded runtime)
//
// Every period (1 s) it lists sandboxes and containers, diffs with the previous list (upstream
// generic PLEG), inspects the pods that changed (and retries those whose inspection failed), and
// posts each pod's full runtime state with the events. Health is the time since the last good
// relist. A hung runtime call is bounded by the CRI deadline, so one bad inspect cannot stop
// the loop for longer than that; a failed relist is counted and retried next period.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { expose } from 'comlink';
import { connectCri } from '../native/cri/index.js';
import { createCriClient, type CriClient } from '../native/cri/client.js';
import { MessagePortCriTransport } from '../native/cri/port-transport.js';
import { inspectPod, type ListedPod } from '../pods/sync.js';
import { LABEL_POD_UID } from '../pods/runtime-state.js';
import { forwardCriCalls } from '../native/cri/call-metrics.js';
import { buildRelist, diffRelist, type PlegEvent, type Relist } from './pleg.js';
import { threadEndpoint } from './thread-endpoint.js';
import { Bus, connectPort } from '../bus/index.js';
import { reportThreadStats } from '../native/thread-stats.js';

export interface PlegWorkerData {
  endpoint: string | undefined;
  imageEndpoint: string | undefined;
  /** Port to the embedded runtime (when no endpoint). */
  criPort: MessagePort | undefined;
  /** This thread's end of the bus bridge to the main thread. */
  events: MessagePort;
  runtimeName: string;
  relistPeriodMs: number;
  runtimeRequestTimeoutMs: number;
}

export interface PlegStats {
  relists: number;
  failedRelists: number;
  lastRelistOkAt: number;
  lastRelistMs: number;
  pods: number;
  inspectRetries: number;
}

export interface PlegControl {
  start(): void;
  stop(): void;
  configure(opts: { relistPeriodMs?: number }): void;
  stats(): PlegStats;
  /** Healthy while the last good relist is younger than `thresholdMs` (upstream: 3 min). */
  health(thresholdMs?: number): { ok: boolean; message?: string };
  /** Forces a relist now (tests, and after a restart of the actor). */
  relistNow(): Promise<void>;
}

const data = workerData as PlegWorkerData;
const onCall = forwardCriCalls();
const cri: CriClient = data.criPort
  ? createCriClient(new MessagePortCriTransport(data.criPort, 'embedded'), { runtimeRequestTimeoutMs: data.runtimeRequestTimeoutMs, onCall })
  : connectCri(data.endpoint ?? '', { runtimeRequestTimeoutMs: data.runtimeRequestTimeoutMs, onCall, ...(data.imageEndpoint ? { imageEndpoint: data.imageEndpoint } : {}) });

let period = data.relistPeriodMs;
let timer: NodeJS.Timeout | undefined;
let running = false;
let busy: Promise<void> | undefined;
let previous: Relist = new Map();
let lastStart = 0;
const started = Date.now();
const retry = new Set<string>();
const stats: PlegStats = { relists: 0, failedRelists: 0, lastRelistOkAt: 0, lastRelistMs: 0, pods: 0, inspectRetries: 0 };

reportThreadStats('pleg');
const bus = new Bus({ name: 'pleg' });
connectPort(bus, data.events, { topics: ['pod.state', 'pleg.relist'] });

async function relist(): Promise<void> {
  const t0 = Date.now();
  const interval = lastStart ? t0 - lastStart : 0;
  lastStart = t0;
  try {
    const [sandboxes, containers] = await Promise.all([cri.ListPodSandbox({}), cri.ListContainers({})]);
    const next = buildRelist(sandboxes.items, containers.containers);
    const { events, changed } = diffRelist(previous, next);
    const byPod = new Map<string, PlegEvent[]>();
    for (const e of events) {
      const list = byPod.get(e.podUid) ?? [];
      list.push(e);
      byPod.set(e.podUid, list);
    }
    previous = next;
    const todo = new Set([...changed, ...retry]);
    retry.clear();
    // The changed pods' parts of the full lists: their inspections need only the status calls
    // (upstream's GetPodStatus lists again per pod).
    const listed = new Map<string, ListedPod>();
    const partOf = (uid: string): ListedPod => {
      let l = listed.get(uid);
      if (!l) listed.set(uid, (l = { sandboxes: [], containers: [], observedAt: t0 }));
      return l;
    };
    for (const sb of sandboxes.items) {
      const uid = sb.labels[LABEL_POD_UID];
      if (uid !== undefined && todo.has(uid)) partOf(uid).sandboxes.push(sb);
    }
    for (const c of containers.containers) {
      const uid = c.labels[LABEL_POD_UID];
      if (uid !== undefined && todo.has(uid)) partOf(uid).containers.push(c);
    }
    await Promise.all(
      [...todo].map(async (uid) => {
        if (!next.has(uid)) {
          bus.publish('pod.state', { type: 'gone', uid, events: byPod.get(uid) ?? [] });
          return;
        }
        try {
          const state = await inspectPod(cri, uid, data.runtimeName, undefined, partOf(uid));
          bus.publish('pod.state', { type: 'state', uid, state, events: byPod.get(uid) ?? [] });
        } catch {
          // Upstream: pods whose inspection failed are retried on the next relist.
          retry.add(uid);
          stats.inspectRetries++;
        }
      }),
    );
    stats.relists++;
    stats.lastRelistOkAt = Date.now();
    stats.lastRelistMs = Date.now() - t0;
    stats.pods = next.size;
    bus.publish('pleg.relist', { type: 'relist', ok: true, durationMs: stats.lastRelistMs, intervalMs: interval, pods: next.size, at: stats.lastRelistOkAt });
  } catch (err) {
    stats.failedRelists++;
    bus.publish('pleg.relist', { type: 'relist', ok: false, durationMs: Date.now() - t0, intervalMs: interval, error: err instanceof Error ? err.message : String(err), pods: previous.size, at: Date.now() });
  }
}

function schedule(): void {
  if (!running) return;
  timer = setTimeout(() => {
    busy = relist().finally(() => {
      busy = undefined;
      schedule();
    });
  }, period);
}

const control: PlegControl = {
  start() {
    if (running) return;
    running = true;
    busy = relist().finally(() => {
      busy = undefined;
      schedule();
    });
  },
  stop() {
    running = false;
    if (timer) clearTimeout(timer);
  },
  configure(opts) {
    if (opts.relistPeriodMs !== undefined && opts.relistPeriodMs > 0) period = opts.relistPeriodMs;
  },
  stats() {
    return { ...stats };
  },
  health(thresholdMs = 180_000) {
    const age = Date.now() - (stats.lastRelistOkAt || started);
    return age <= thresholdMs ? { ok: true } : { ok: false, message: `PLEG is not healthy: pleg was last seen active ${Math.round(age / 1000)}s ago; threshold is ${Math.round(thresholdMs / 1000)}s` };
  },
  async relistNow() {
    if (busy) await busy;
    await relist();
  },
};

if (parentPort) expose(control, threadEndpoint(parentPort));
