// Container GC, as upstream: dead containers beyond the per-container limit and old dead
// sandboxes of the pods the workers hold (a removed pod is cleaned up whole by its worker), every
// containerGcPeriod, one round at a time; what could not be removed is retried next round.
import type { Logger } from 'pino';
import { planGarbageCollection } from '../pods/gc.js';
import type { PodWorkers } from '../actors/pod-workers/handle.js';
import type { SyncPool } from '../actors/sync-pool/handle.js';

export interface ContainerGcOptions {
  workers: PodWorkers;
  pool: SyncPool;
  maxDeadContainersPerContainer: number;
  periodMs: number;
  logger: Logger;
}

export class ContainerGc {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly o: ContainerGcOptions) {}

  start(): void {
    this.timer = setInterval(() => this.round(), this.o.periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private round(): void {
    if (this.running) return;
    this.running = true;
    void this.collect(this.o.maxDeadContainersPerContainer).finally(() => {
      this.running = false;
    });
  }

  /**
   * Upstream's DeleteAllUnusedContainers, the eviction watcher's node-level reclaim for disk:
   * every dead container and old sandbox of the pods, none kept. Resolves when the removals end.
   */
  reclaim(): Promise<void> {
    return this.collect(0);
  }

  private collect(maxDead: number): Promise<void> {
    const { workers, pool, logger: log } = this.o;
    const tasks: Promise<unknown>[] = [];
    for (const [uid, state] of workers.cache) {
      if (!workers.has(uid)) continue;
      const plan = planGarbageCollection(state, maxDead);
      if (plan.containers.length === 0 && plan.sandboxes.length === 0) continue;
      tasks.push(
        pool.run({ type: 'gc', ...plan }).result.then(
          (r) => {
            if (r.errors.length > 0) log.warn({ uid, errors: r.errors }, 'container GC could not remove everything; next round retries');
          },
          (err: unknown) => log.warn({ uid, err: (err as Error).message }, 'container GC failed; next round retries'),
        ),
      );
    }
    return Promise.all(tasks).then(() => undefined);
  }
}
