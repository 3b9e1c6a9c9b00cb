// The base of an actor that runs on its own worker thread (the PLEG and probe actors): how one
// generation of the thread is started, and how it is supervised. Per spawn it serves an embedded
// runtime's CRI on a MessagePort (the thread has no socket to dial then; a thread given no
// runtime, as one that only reads the kernel's figures, gets neither), opens the events
// channel bridged onto the main thread's bus, starts the Worker with both ports transferred and
// wraps its comlink control. When the thread exits unasked (a crash, a chaos kill) the
// Supervisor restarts it with backoff within the restart budget, or gives up and publishes
// actor.health. What differs stays in the subclass: the rest of its workerData, what a new
// thread is told first, and what comes back.
// Owns: the Worker, its control proxy, the supervisor and the generation count. Assumes the
// worker script takes ThreadPorts in its workerData and exposes a comlink control with stop().
import { workerResourceLimits } from '../../native/heap-limits.js';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { wrap, releaseProxy, type Remote } from 'comlink';
import type { Logger } from 'pino';
import type { CriHandlers } from '../../native/cri/api.js';
import { serveCriOnPort } from '../../native/cri/port-transport.js';
import { connectPort, type Bus, type Topic } from '../../bus/index.js';
import { threadEndpoint } from './thread-endpoint.js';
import { Supervisor } from './supervisor.js';

/** The part of a thread's workerData every actor thread has: the runtime, and its end of the bus bridge. */
export interface ThreadPorts {
  endpoint: string | undefined;
  imageEndpoint: string | undefined;
  /** Port to the embedded runtime (when no endpoint). */
  criPort: MessagePort | undefined;
  /** The thread's end of the bus bridge to the main thread. */
  events: MessagePort;
}

export interface ThreadHostOptions {
  /** The worker script, resolved next to the subclass's module. */
  script: URL;
  /** The Worker's name, and the actor that actor.health names when the supervisor gives up. */
  actor: string;
  /** The thread as the log lines and the supervisor name it, e.g. 'PLEG thread'. */
  what: string;
  /** The runtime the thread talks to; undefined for a thread that needs none (it opens no CRI connection). */
  runtime: { endpoint: string; imageEndpoint?: string } | { embedded: CriHandlers } | undefined;
  bus: Bus;
  /** The topics the thread publishes: the only ones its bridge lets into the main bus. */
  publishes: readonly Topic[];
  /** The subclass's logger (its bindings name the actor). */
  logger: Logger;
  /** Restarts allowed within `budgetWindowMs` before the supervisor gives up. */
  restartBudget?: number | undefined;
  budgetWindowMs?: number | undefined;
}

export abstract class ThreadHost<Control extends { stop(): void }, Data extends ThreadPorts> {
  private worker: Worker | undefined;
  protected control: Remote<Control> | undefined;
  private stopping = false;
  protected readonly supervisor: Supervisor;
  protected readonly log: Logger;
  /** Times the thread was (re)started. */
  generation = 0;

  constructor(private readonly thread: ThreadHostOptions) {
    this.log = thread.logger;
    this.supervisor = new Supervisor({
      name: thread.what,
      start: () => this.spawn(),
      ...(thread.restartBudget !== undefined ? { budget: thread.restartBudget } : {}),
      ...(thread.budgetWindowMs !== undefined ? { windowMs: thread.budgetWindowMs } : {}),
      onEscalate: (why) => thread.bus.publish('actor.health', { type: 'health', actor: thread.actor, ok: false, message: why }),
      logger: this.log,
    });
  }

  /** The thread's workerData: the ports given, plus its own settings. */
  protected abstract workerData(ports: ThreadPorts): Data;

  /** A new thread is up: tell it what it must know and start it (it knows nothing yet). */
  protected abstract started(control: Remote<Control>): void;

  get gaveUp(): boolean {
    return this.supervisor.gaveUp;
  }

  start(): void {
    this.stopping = false;
    this.supervisor.start();
  }

  private spawn(): void {
    const { runtime } = this.thread;
    const events = new MessageChannel();
    let criPort: MessagePort | undefined;
    let closeCri: (() => void) | undefined;
    if (runtime && 'embedded' in runtime) {
      const ch = new MessageChannel();
      const served = serveCriOnPort(runtime.embedded, ch.port1, this.log);
      closeCri = () => served.close();
      criPort = ch.port2;
    }
    const data = this.workerData({
      endpoint: runtime && 'endpoint' in runtime ? runtime.endpoint : undefined,
      imageEndpoint: runtime && 'endpoint' in runtime ? runtime.imageEndpoint : undefined,
      criPort,
      events: events.port2,
    });
    const worker = new Worker(this.thread.script, {
      workerData: data,
      transferList: criPort ? [events.port2, criPort] : [events.port2],
      name: this.thread.actor,
      resourceLimits: workerResourceLimits(),
    });
    this.worker = worker;
    this.generation++;
    const bridge = connectPort(this.thread.bus, events.port1, { topics: [], inbound: this.thread.publishes, name: this.thread.actor });
    worker.once('error', (err) => this.log.error({ err: err.message }, `${this.thread.what} failed`));
    worker.once('exit', (code) => {
      bridge.close();
      closeCri?.();
      if (this.worker === worker) {
        this.worker = undefined;
        this.control = undefined;
      }
      if (!this.stopping) this.supervisor.failed(`thread exited with code ${code}`);
    });
    const control = wrap<Control>(threadEndpoint(worker));
    this.control = control;
    this.started(control);
  }

  /** The running thread's id (undefined between generations). */
  get threadId(): number | undefined {
    return this.worker?.threadId;
  }

  /** Chaos hook: kill the thread as a crash would. */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.supervisor.stop();
    const w = this.worker;
    if (this.control) {
      await this.control.stop().catch(() => undefined);
      this.control[releaseProxy]();
    }
    await w?.terminate();
  }
}
