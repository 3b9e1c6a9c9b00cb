// Housekeeping, every 2 s as upstream's HandlePodCleanups: the working-pods and running gauges,
// the pod workers' own pass (a worker no source wants is killed; a terminated one whose cleanup
// failed is cleaned up again), pods the runtime runs that no source wants (killed and removed
// once every source has spoken), and leftovers of pods gone while the kubelet was down (log
// folders and <root-dir>/pods/<uid> folders of pods nobody wants and the runtime does not run;
// one sweep at a time, at most every 30 s). Level-triggered: whatever messages were lost, the
// node converges on what the sources want. Its health is the sync loop's (/healthz syncloop).
import type { Logger } from 'pino';
import type { KubeletMetrics } from '../metrics/kubelet-metrics.js';
import type { PodConfig } from '../pods/pod-config.js';
import { removePodLogFolders } from '../pods/leftovers.js';
import type { VolumeManager } from '../volumes/volume-manager.js';
import type { PodWorkers } from '../actors/pod-workers/handle.js';
import type { SyncPool } from '../actors/sync-pool/handle.js';
import type { ActorHealth } from '../bus/index.js';

export interface HousekeepingOptions {
  workers: PodWorkers;
  pool: SyncPool;
  podConfig: PodConfig;
  volumes: VolumeManager;
  /** The pods the runtime runs, as the PLEG last said (housekeeping forgets the orphans it removed). */
  runtimeUids: Set<string>;
  podLogsDir: string;
  metrics: KubeletMetrics;
  logger: Logger;
  periodMs?: number;
}

export class Housekeeping {
  private lastRun = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;
  // The first sweep waits 10 s: by then the PLEG has relisted, so runtimeUids holds what runs.
  private lastSweep = Date.now() - 20_000;
  private readonly orphansInFlight = new Set<string>();

  constructor(private readonly o: HousekeepingOptions) {}

  start(): void {
    this.timer = setInterval(() => this.round(), this.o.periodMs ?? 2000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  health(now = Date.now()): ActorHealth {
    return now - this.lastRun < 60_000 ? { ok: true } : { ok: false, message: `sync loop last ran ${Math.round((now - this.lastRun) / 1000)}s ago` };
  }

  private round(): void {
    const { workers, metrics, podConfig } = this.o;
    this.lastRun = Date.now();
    const c = workers.counts();
    metrics.workingPods.set({ lifecycle: 'sync', config: 'desired', static: 'true' }, c.syncing);
    metrics.workingPods.set({ lifecycle: 'terminating', config: 'desired', static: 'true' }, c.terminating);
    metrics.workingPods.set({ lifecycle: 'terminated', config: 'desired', static: 'true' }, c.terminated);
    let running = 0;
    let runningContainers = 0;
    for (const s of workers.cache.values()) {
      if (s.sandboxes.some((x) => x.ready)) running++;
      runningContainers += s.containers.filter((x) => x.state === 'running').length;
    }
    metrics.runningPods.set(running);
    metrics.runningContainers.set({ container_state: 'running' }, runningContainers);
    if (!podConfig.allSourcesReady()) return;
    workers.housekeeping((uid) => podConfig.get(uid) !== undefined);
    this.sweepLeftovers();
    this.killOrphans();
  }

  private sweepLeftovers(): void {
    if (this.sweeping || Date.now() - this.lastSweep < 30_000) return;
    this.sweeping = true;
    this.lastSweep = Date.now();
    const { podConfig, workers, runtimeUids, volumes, logger: log } = this.o;
    const keep = (uid: string): boolean => podConfig.get(uid) !== undefined || workers.has(uid) || runtimeUids.has(uid);
    void Promise.all([
      removePodLogFolders(this.o.podLogsDir, keep).then((names) => {
        if (names.length > 0) log.info({ folders: names }, 'removed the log folders of pods that no longer exist');
      }),
      volumes.removeOrphanedPodDirs(keep),
    ])
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'leftover sweep failed; next round retries'))
      .finally(() => {
        this.sweeping = false;
      });
  }

  private killOrphans(): void {
    const { workers, pool, runtimeUids, logger: log } = this.o;
    for (const uid of workers.orphans(runtimeUids)) {
      if (this.orphansInFlight.has(uid)) continue;
      this.orphansInFlight.add(uid);
      log.info({ uid }, 'killing a pod the runtime runs and no source wants');
      void pool
        .run({ type: 'kill', uid, graceSeconds: 2 })
        .result.then(() => pool.run({ type: 'remove', uid }).result)
        // Gone from the runtime: forget it here too. A PLEG thread restarted meanwhile never
        // knew the pod, so no 'gone' would come, and it would be "killed" every round.
        .then(() => runtimeUids.delete(uid))
        .catch((err: unknown) => log.warn({ uid, err: (err as Error).message }, 'orphan cleanup failed; will retry'))
        .finally(() => this.orphansInFlight.delete(uid));
    }
  }
}
