// The sync pool: a piscina pool of threads that run the CRI half of pod work, so the main thread
// (pod workers, status, HTTP) never waits on the runtime and one bad sync cannot stall others.
// Each thread runs many tasks at once (CRI calls are I/O). Tasks go in two lanes, each bounded:
//   sync lane (sync, inspect, gc): `threads * concurrentTasksPerThread` (maxConcurrentSyncs), since
//     a runtime on two cores does not get faster when 300 pods hit it at once;
//   kill lane (kill, remove): `maxConcurrentKills`, much larger. A kill mostly waits (StopContainer
//     waits out the grace period), and upstream runs every pod worker's kill at once; in the sync
//     lane 300 kills with 2 s of grace took 300 / 4 * 2 s to finish.
// One task per pod at a time is the pod workers' rule (a kill waits for the sync it cancelled),
// not the pool's.
//
// Which lane a task takes and when it runs is decided in logic.ts; what crosses to the threads
// (tasks, results, workerData) is in protocol.ts; the thread script is thread.ts.
//
// Tasks and results are plain data (structured clone). A task can be cancelled (a kill cancels
// the pod's running sync): `run` returns a handle whose `cancel()` flips a shared flag the thread
// waits on, and whose `settled` resolves when the thread has really let go of the pod, so the
// caller can start the kill without racing the sync it replaced.
// A pool thread that dies (a crash, an OOM) fails only its own tasks with a typed error; piscina
// replaces the thread and the pod workers retry.
import { workerResourceLimits } from '../../native/heap-limits.js';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import type { Bus, SyncPoolStats } from '../../bus/index.js';
import type { CriHandlers } from '../../native/cri/api.js';
import { fromPlainError } from '../../native/cri/errors.js';
import { serveCriOnPort } from '../../native/cri/port-transport.js';
import type { PlainError, SyncPoolWorkerData, SyncTask, SyncTaskResult } from './protocol.js';
import { silentLogger } from '../../log.js';
import { LaneLogic, laneOf, type Lane } from './logic.js';

/** Distributive Omit, so each task variant keeps its own fields. */
type TaskInput<T> = T extends unknown ? Omit<T, 'port' | 'cancel'> : never;

export class SyncPoolError extends Error {
  readonly code = 'KTS_SYNC_POOL';
}

export function errorFrom(plain: PlainError): Error {
  if (plain.kind === 'CriError') return fromPlainError(plain);
  const e = new Error(plain.message);
  if (plain.stack) e.stack = plain.stack;
  return e;
}

export interface SyncPoolOptions {
  /** A CRI endpoint (unix://), or the embedded runtime's handlers living in this thread. */
  runtime: { endpoint: string; imageEndpoint?: string; name: string } | { embedded: CriHandlers; name: string };
  threads?: number;
  /** The sync lane's bound per thread (the pool's: times `threads`). */
  concurrentTasksPerThread?: number;
  /** The kill lane's bound over the pool. */
  maxConcurrentKills?: number;
  runtimeRequestTimeoutMs?: number;
  logger?: Logger;
}

export interface TaskHandle<R> {
  result: Promise<R>;
  cancel(): void;
  /** Resolves (never rejects) once the thread is done with the task, cancelled or not. */
  settled: Promise<void>;
}

export const DEFAULT_MAX_CONCURRENT_KILLS = 1024;

export class SyncPool {
  private readonly pool: Piscina<SyncTask, SyncTaskResult>;
  private readonly embedded: CriHandlers | undefined;
  private readonly log: Logger;
  private readonly lanes: LaneLogic;
  /** Tasks waiting for their lane, by ID: the logic says which one runs next. */
  private readonly waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private nextId = 1;
  private inFlight = 0;

  constructor(opts: SyncPoolOptions) {
    this.log = (opts.logger ?? silentLogger).child({ component: 'sync-pool' });
    this.embedded = 'embedded' in opts.runtime ? opts.runtime.embedded : undefined;
    const workerData: SyncPoolWorkerData = {
      endpoint: 'endpoint' in opts.runtime ? opts.runtime.endpoint : undefined,
      imageEndpoint: 'endpoint' in opts.runtime ? opts.runtime.imageEndpoint : undefined,
      runtimeRequestTimeoutMs: opts.runtimeRequestTimeoutMs ?? 120_000,
      runtimeName: opts.runtime.name,
    };
    const threads = opts.threads ?? 2;
    const perThread = opts.concurrentTasksPerThread ?? 16;
    const limits = { sync: threads * perThread, kill: Math.max(1, opts.maxConcurrentKills ?? DEFAULT_MAX_CONCURRENT_KILLS) };
    this.lanes = new LaneLogic(limits);
    this.pool = new Piscina<SyncTask, SyncTaskResult>({
      filename: new URL('./thread.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      // The lanes bound the work; a thread takes whatever they let through.
      concurrentTasksPerWorker: Math.ceil((limits.sync + limits.kill) / threads),
      idleTimeout: Infinity,
      // Not piscina's default 'sync': an idle thread would block in Atomics.wait, freezing its
      // event loop between tasks (its gRPC channel, the CRI-call metrics flush timer, the
      // thread-stats report), which the harness saw as 3 s event-loop stalls and CRI counts
      // arriving a task late. Tasks here are async I/O; a message per task costs nothing next to a CRI call.
      atomics: 'disabled',
      resourceLimits: workerResourceLimits(),
      workerData,
    });
    this.pool.on('error', (err: unknown) => this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'sync pool thread failed'));
  }

  get threads(): number {
    return this.pool.threads.length;
  }

  get running(): number {
    return this.inFlight;
  }

  get queued(): number {
    return this.pool.queueSize + this.lanes.counts('sync').queued + this.lanes.counts('kill').queued;
  }

  /** Tasks running in each lane now (tests, diagnostics). */
  laneActive(lane: Lane): number {
    return this.lanes.counts(lane).active;
  }

  /** Runs a task; `result` rejects with the task's typed error (CriError for runtime failures). */
  run<T extends TaskInput<SyncTask>>(input: T): TaskHandle<Extract<SyncTaskResult, { type: T['type'] }>> {
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const lane = laneOf(input.type);
    this.inFlight++;
    // (A task cancelled while it waits for its lane still runs: the thread sees the flag and stops at once.)
    const raw = this.acquire(lane).then(() => {
      const task = { ...input, cancel } as SyncTask;
      const transferList: MessagePort[] = [];
      let closeServer: (() => void) | undefined;
      if (this.embedded) {
        const { port1, port2 } = new MessageChannel();
        const served = serveCriOnPort(this.embedded, port1, this.log);
        closeServer = () => served.close();
        task.port = port2;
        transferList.push(port2);
      }
      const run = this.pool.run(task, { transferList });
      void run
        .then(
          () => undefined,
          () => undefined,
        )
        .then(() => {
          this.releaseLane(lane);
          closeServer?.();
        });
      return run;
    });
    const settled = raw.then(
      () => undefined,
      () => undefined,
    );
    void settled.then(() => {
      this.inFlight--;
    });
    const result = raw.then(
      (r) => {
        if (r.type === 'error') throw errorFrom(r.error);
        if (r.type !== input.type) throw new SyncPoolError(`sync pool: ${input.type} task answered with ${r.type}`);
        return r as Extract<SyncTaskResult, { type: T['type'] }>;
      },
      (err: unknown) => {
        throw new SyncPoolError(`sync pool thread failed during a ${input.type} task: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    return {
      result,
      settled,
      cancel: () => {
        Atomics.store(cancel, 0, 1);
        Atomics.notify(cancel, 0);
      },
    };
  }

  stats(): SyncPoolStats {
    return { threads: this.threads, running: this.running, queued: this.queued, syncLane: this.laneActive('sync'), killLane: this.laneActive('kill') };
  }

  /** Answers sync-pool.stats on `bus`; returns the undo. */
  serve(bus: Bus): () => void {
    return bus.serve('sync-pool.stats', () => this.stats());
  }

  private acquire(lane: Lane): Promise<void> {
    const id = this.nextId++;
    switch (this.lanes.admit(lane, id)) {
      case 'run':
        return Promise.resolve();
      case 'closed':
        return Promise.reject(new SyncPoolError('sync pool: closed'));
      case 'wait':
        return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    }
  }

  private releaseLane(lane: Lane): void {
    const next = this.lanes.release(lane);
    if (next === undefined) return;
    const w = this.waiting.get(next);
    this.waiting.delete(next);
    w?.resolve();
  }

  async close(): Promise<void> {
    for (const id of this.lanes.close()) {
      this.waiting.get(id)?.reject(new SyncPoolError('sync pool: closed before the task ran'));
      this.waiting.delete(id);
    }
    await this.pool.close({ force: true });
  }
}
