// The PLEG relister, on its own worker thread:
//
//   main thread                         PLEG thread
//   ───────────                         ───────────
//   PlegActor ── comlink control ──────> start / stop
//   main bus  <── bus bridge (port) ──── topics pod.state and pleg.relist
//   main bus  ─── bus requests ─────────> pleg.relist / pleg.configure / pleg.stats / pleg.health
//                                        CRI client (endpoint, or a port to the embedded runtime)
//
// Every period (1 s) it lists sandboxes and containers, diffs with the previous list (upstream
// generic PLEG), inspects the pods that changed (and retries those whose inspection failed), and
// posts each pod's full runtime state with the events. Health is the time since the last good
// relist. A hung runtime call is bounded by the CRI deadline, so one bad inspect cannot stop
// the loop for longer than that; a failed relist is counted and retried next period.
//
// Evented (kubeletTS.eventedPleg, on by default): it also follows the runtime's GetContainerEvents
// stream. Each event carries its sandbox's and containers' statuses, so the pod's state is posted
// from the event with no CRI call, within milliseconds of the change instead of half a relist
// period on average. Events that arrive together are posted once per pod (setImmediate). While
// the stream is up the relist runs every 5 min as a safety net (upstream's evented PLEG); a runtime
// that answers Unimplemented (containerd 1.6) is relisted every second from then on; a stream
// that breaks is relisted every second, at once, and reopened with backoff (1 s doubling to 30 s).
// States carry observedAt, and a relist never posts (or keeps) a pod state older than what the
// events already said: the relist began before those events.
import { parentPort, workerData } from 'node:worker_threads';
import { expose } from 'comlink';
import { connectCri } from '../../native/cri/index.js';
import { createCriClient, type CriClient } from '../../native/cri/client.js';
import { MessagePortCriTransport } from '../../native/cri/port-transport.js';
import { inspectPod } from '../../pods/sync.js';
import { forwardCriCalls } from '../../native/cri/call-metrics.js';
import { PLEG_THREAD_TOPICS, type PlegControl, type PlegWorkerData } from './protocol.js';
import { PlegLogic, type PlegEffect, type RelistRound } from './logic.js';
import { EffectRunner } from '../host/effects.js';
import { createRootLogger } from '../../log.js';
import type { ContainerEvent, EventSubscription } from '../../native/cri/api.js';
import type { CriError } from '../../native/cri/errors.js';
import { threadEndpoint } from '../host/thread-endpoint.js';
import { Bus, connectPort } from '../../bus/index.js';
import { reportThreadStats } from '../../native/thread-stats.js';

const data = workerData as PlegWorkerData;
const onCall = forwardCriCalls();
const cri: CriClient = data.criPort
  ? createCriClient(new MessagePortCriTransport(data.criPort, 'embedded'), { runtimeRequestTimeoutMs: data.runtimeRequestTimeoutMs, onCall })
  : connectCri(data.endpoint ?? '', {
      runtimeRequestTimeoutMs: data.runtimeRequestTimeoutMs,
      onCall,
      ...(data.imageEndpoint ? { imageEndpoint: data.imageEndpoint } : {}),
    });

let timer: NodeJS.Timeout | undefined;
let running = false;
let stream: EventSubscription | undefined;
let streamRetry: NodeJS.Timeout | undefined;
// Every decision is the logic's (logic.ts: PlegLogic); this file lists, inspects, keeps the
// timers and the stream, and carries out what the logic asks.
const logic = new PlegLogic(
  { runtimeName: data.runtimeName, evented: data.evented, relistPeriodMs: data.relistPeriodMs, eventedRelistPeriodMs: data.eventedRelistPeriodMs },
  Date.now(),
);

reportThreadStats('pleg');
const bus = new Bus({ name: 'pleg' });
connectPort(bus, data.events, { topics: PLEG_THREAD_TOPICS });

// What the logic asks for, carried out by the one effect runner (a handler that throws is
// logged and the next effects still run).
// (This thread logs only what goes wrong, on the process's stdout as the main thread does.)
const threadLog = createRootLogger({ level: 'error' }).child({ thread: 'pleg' });
const runner = new EffectRunner<PlegEffect>(
  'pleg',
  {
    post: (e) => bus.publish('pod.state', e.msg),
    mode: (e) =>
      bus.publish(
        'pleg.relist',
        e.streamError === undefined
          ? { type: 'mode', evented: e.evented, at: Date.now() }
          : { type: 'mode', evented: e.evented, streamError: e.streamError, at: Date.now() },
      ),
    // (A relist in flight schedules the next one itself.)
    reschedule: () => {
      if (running && timer) {
        clearTimeout(timer);
        schedule();
      }
    },
    'flush-soon': () => setImmediate(() => perform(logic.flush(Date.now()))),
    'reopen-stream': (e) => {
      streamRetry = setTimeout(() => {
        streamRetry = undefined;
        openStream();
        void serialRelist().catch(() => undefined);
      }, e.afterMs);
    },
    'relist-now': () => void serialRelist().catch(() => undefined),
  },
  threadLog,
);

function perform(list: readonly PlegEffect[]): void {
  runner.run(list);
}

async function relist(): Promise<void> {
  const begun = logic.beginRelist(Date.now());
  let listedRound: RelistRound;
  try {
    const [sandboxes, containers] = await Promise.all([cri.ListPodSandbox({}), cri.ListContainers({})]);
    const { round, effects } = logic.listed(begun, sandboxes.items, containers.containers);
    listedRound = round;
    perform(effects);
  } catch (err) {
    bus.publish('pleg.relist', logic.relistFailed(begun, Date.now(), err instanceof Error ? err.message : String(err)));
    return;
  }
  await Promise.all(
    [...listedRound.inspect].map(async ([uid, listed]) => {
      try {
        const state = await inspectPod(cri, uid, data.runtimeName, undefined, listed);
        perform(logic.inspected(listedRound, uid, state));
      } catch {
        // Upstream: pods whose inspection failed are retried on the next relist.
        logic.inspectFailed(uid);
      }
    }),
  );
  const { relist: done, effects } = logic.relistDone(listedRound, Date.now());
  perform(effects);
  bus.publish('pleg.relist', done);
}

// ---- the event stream --------------------------------------------------------------------------

function onEvent(e: ContainerEvent): void {
  perform(logic.event(e, Date.now()));
}

function openStream(): void {
  if (logic.streamless || !running || stream) return;
  logic.streamOpened(Date.now());
  try {
    stream = cri.GetContainerEvents({ event: onEvent, end: (err) => onStreamEnd(err) });
  } catch (err) {
    // A client that cannot even start a call (a closed channel): as a broken stream.
    queueMicrotask(() => onStreamEnd(err instanceof Error ? err : new Error(String(err))));
  }
}

function onStreamEnd(err: Error | undefined): void {
  stream = undefined;
  if (err === undefined || !running) {
    logic.streamEnded(undefined, Date.now()); // cancelled by stop()
    return;
  }
  perform(logic.streamEnded({ code: (err as Partial<CriError>).code, message: err.message }, Date.now()));
}

/** Relists one at a time: a forced relist waits for one in flight, and a due one for it. */
let chain: Promise<void> = Promise.resolve();
function serialRelist(): Promise<void> {
  const p = chain.then(relist);
  chain = p.catch(() => undefined);
  return p;
}

function schedule(): void {
  if (!running) return;
  timer = setTimeout(() => {
    timer = undefined;
    void serialRelist().finally(() => schedule());
  }, logic.relistPeriodMs);
}

// The PLEG's commands, on this thread's bus (they arrive over the bridge from the main thread,
// or from anything joined to it).
bus.serve('pleg.relist', async () => {
  await serialRelist();
  return { pods: logic.previous.size };
});
bus.serve('pleg.configure', (req) => {
  if (req.relistPeriodMs !== undefined) logic.periodMs = req.relistPeriodMs;
  return { relistPeriodMs: logic.periodMs };
});
bus.serve('pleg.stats', () => ({ ...logic.stats }));
bus.serve('pleg.health', (req) => logic.health(Date.now(), req.thresholdMs));

const control: PlegControl = {
  start() {
    if (running) return;
    running = true;
    // The stream first, then the first relist: nothing changes unseen in between.
    openStream();
    void serialRelist().finally(() => schedule());
  },
  stop() {
    running = false;
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (streamRetry) clearTimeout(streamRetry);
    streamRetry = undefined;
    stream?.cancel();
    stream = undefined;
    logic.streamEnded(undefined, Date.now());
  },
};

if (parentPort) expose(control, threadEndpoint(parentPort));
