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
// What crosses to the threads (tasks, results, workerData) is in protocol.ts; the thread script is thread.ts.
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

type Lane = 'sync' | 'kill';

function laneOf(type: SyncTask['type']): Lane {
  return type === 'kill' || type === 'remove' ? 'kill' : 'sync';
}

/** A counting semaphore: at most `limit` holders, the others wait first come first served. */
class LaneGate {
  active = 0;
  private readonly waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private closed = false;
  constructor(readonly limit: number) {}
  get queued(): number {
    return this.waiting.length;
  }
  acquire(): Promise<void> {
    if (this.closed) return Promise.reject(new SyncPoolError('sync pool: closed'));
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next.resolve();
    else this.active--;
  }
  /** Tasks still waiting for the lane fail, as piscina fails its queued tasks on close. */
  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new SyncPoolError('sync pool: closed before the task ran'));
  }
}

export const DEFAULT_MAX_CONCURRENT_KILLS = 1024;

export class SyncPool {
  private readonly pool: Piscina<SyncTask, SyncTaskResult>;
  private readonly embedded: CriHandlers | undefined;
  private readonly log: Logger;
  private readonly lanes: Record<Lane, LaneGate>;
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
    this.lanes = { sync: new LaneGate(threads * perThread), kill: new LaneGate(Math.max(1, opts.maxConcurrentKills ?? DEFAULT_MAX_CONCURRENT_KILLS)) };
    this.pool = new Piscina<SyncTask, SyncTaskResult>({
      filename: new URL('./thread.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      // The lanes bound the work; a thread takes whatever they let through.
      concurrentTasksPerWorker: Math.ceil((this.lanes.sync.limit + this.lanes.kill.limit) / threads),
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
    return this.pool.queueSize + this.lanes.sync.queued + this.lanes.kill.queued;
  }

  /** Tasks running in each lane now (tests, diagnostics). */
  laneActive(lane: Lane): number {
    return this.lanes[lane].active;
  }

  /** Runs a task; `result` rejects with the task's typed error (CriError for runtime failures). */
  run<T extends TaskInput<SyncTask>>(input: T): TaskHandle<Extract<SyncTaskResult, { type: T['type'] }>> {
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const gate = this.lanes[laneOf(input.type)];
    this.inFlight++;
    // (A task cancelled while it waits for its lane still runs: the thread sees the flag and stops at once.)
    const raw = gate.acquire().then(() => {
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
          gate.release();
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

  async close(): Promise<void> {
    this.lanes.sync.close();
    this.lanes.kill.close();
    await this.pool.close({ force: true });
  }
}
