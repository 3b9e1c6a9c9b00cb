// The node's actors, built and joined: the sync pool (CRI work on piscina threads), one pod
// worker per pod UID on this thread, the probe thread and the PLEG thread. The pod workers
// listen on the bus: runtime states from the PLEG (pod.state), desired state from pod config
// (pod.update, latest wins per pod UID when they fall behind), where a new pod is admitted
// against allocatable and max-pods first. Statuses, events and the workers' ends go out on the
// bus for the cluster parts and the NATS bridge; probe results come back to the workers.
// Owns: the actors' lifetimes (start, stop) and the wiring between them; what each does is its own.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Pod } from '../api/core-v1.js';
import type { KubeletConfig } from '../config/kubelet-config.js';
import type { KubeletMetrics } from '../metrics/kubelet-metrics.js';
import type { Bus } from '../bus/index.js';
import { SyncPool } from '../actors/sync-pool/handle.js';
import { PlegActor } from '../actors/pleg/handle.js';
import { ProbeActor } from '../actors/probes/handle.js';
import { PodWorkers } from '../actors/pod-workers/handle.js';
import { EvictionActor } from '../actors/eviction/handle.js';
import { parseEvictionSettings } from '../eviction/thresholds.js';
import type { PrepareResult } from '../volumes/prepare.js';
import { admit } from '../pods/admission.js';
import type { NodeFacts } from './node-facts.js';
import { isSimRuntime, type RuntimeHandle } from './runtime.js';
import { podIdentity, type PublishPodEvent } from './pod-events.js';

export interface NodeActors {
  pool: SyncPool;
  workers: PodWorkers;
  probes: ProbeActor;
  pleg: PlegActor;
  eviction: EvictionActor;
  /** The pods the runtime runs, as the PLEG last said. */
  runtimeUids: Set<string>;
  /** Starts the PLEG, probe and eviction threads (the pool and the workers run from the start). */
  start(): void;
  /** Answers the main thread's requests (pods.list, pods.describe, sync-pool.stats); returns the undo. */
  serve(bus: Bus): () => void;
  stop(): Promise<void>;
}

function readHostResolvConf(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export function nodeActors(d: {
  cfg: KubeletConfig;
  facts: NodeFacts;
  runtime: RuntimeHandle;
  bus: Bus;
  metrics: KubeletMetrics;
  prepare: (pod: Pod) => Promise<PrepareResult>;
  /** A pod gone for good (its worker ended and it was removed): cleaned up on disk. */
  onGone(uid: string, pod: Pod): void;
  /** A pod's worker terminated (killed, evicted, finished): its volumes can go (upstream keepTerminatedPodVolumes=false). */
  onTerminated(uid: string, pod: Pod): void;
  publishPodEvent: PublishPodEvent;
  /** The eviction watcher's node-level reclaim for a disk signal; resolves to the bytes freed. */
  reclaim(signal: string): Promise<number>;
  logger: Logger;
}): NodeActors {
  const { cfg, facts, runtime, bus, metrics } = d;
  const log = d.logger;
  const threads = Math.max(1, Math.min(2, cfg.kubeletTS.maxConcurrentSyncs));
  const pool = new SyncPool({
    runtime: runtime.spec,
    threads,
    concurrentTasksPerThread: Math.ceil(cfg.kubeletTS.maxConcurrentSyncs / threads),
    runtimeRequestTimeoutMs: cfg.runtimeRequestTimeout,
    logger: log,
  });
  const hostIP = facts.nodeIPs[0];
  const workers = new PodWorkers({
    pool,
    sandbox: {
      podLogsDir: cfg.podLogsDir,
      hostResolvConf: readHostResolvConf(cfg.resolvConf),
      clusterDNS: cfg.clusterDNS,
      clusterDomain: cfg.clusterDomain || 'cluster.local',
      machineMemoryBytes: facts.host.memoryBytes,
      cgroupRoot: cfg.cgroupRoot,
      cgroupsPerQOS: cfg.cgroupsPerQOS,
      seccompProfileRoot: join(cfg.rootDir, 'seccomp'),
      rootDir: cfg.rootDir,
      podsDir: join(cfg.rootDir, 'pods'),
    },
    ...(hostIP ? { hostIP } : {}),
    crashLoopBackOff: { initialMs: cfg.kubeletTS.crashLoopBackOffInitial, maxMs: cfg.kubeletTS.crashLoopBackOffMax },
    worker: { syncFrequencyMs: cfg.syncFrequency },
    metrics,
    logger: log,
    onStatus: (pod, status) => bus.publish('pod.status', { type: 'status', ...podIdentity(pod), status }),
    onTerminated: (pod, status) => {
      d.onTerminated(pod.metadata.uid ?? '', pod);
      bus.publish('pod.worker', { type: 'terminated', ...podIdentity(pod), ...(status ? { status } : {}) });
    },
    onEvent: d.publishPodEvent,
    onGone: (uid, pod) => {
      bus.publish('pod.worker', { type: 'gone', ...podIdentity(pod) });
      probes.forget(uid);
      d.onGone(uid, pod);
    },
    prepare: d.prepare,
    probes: { statusInputs: (uid) => probes.statusInputs(uid), verdicts: (uid) => probes.verdicts(uid) },
  });
  // The probe thread probes what the pod workers run; its result changes come back to them.
  const probes = new ProbeActor({
    runtime: runtime.spec,
    bus,
    runtimeRequestTimeoutMs: cfg.runtimeRequestTimeout,
    ...(hostIP ? { hostIP } : {}),
    logger: log,
    onResult: (m) => workers.probeResult(m.podUid, m.probe, m.result),
  });
  const pleg = new PlegActor({
    runtime: runtime.spec,
    relistPeriodMs: 1000,
    evented: cfg.kubeletTS.eventedPleg,
    runtimeRequestTimeoutMs: cfg.runtimeRequestTimeout,
    metrics,
    logger: log,
    bus,
  });
  // The eviction watcher reads the node's signals and the pods' usage on its thread; what it
  // decides to kill is killed here, through the pod workers, with the status it must report.
  const eviction = new EvictionActor({
    runtime: runtime.spec,
    bus,
    settings: parseEvictionSettings(cfg).settings,
    nodeName: facts.nodeName,
    rootDir: cfg.rootDir,
    podLogsDir: cfg.podLogsDir,
    intervalMs: cfg.housekeepingInterval,
    simNode: isSimRuntime(runtime.spec.name),
    runtimeRequestTimeoutMs: cfg.runtimeRequestTimeout,
    logger: log,
    evict: (m) => {
      const pod = workers.podOf(m.uid);
      if (!pod) return;
      d.publishPodEvent(pod, { type: 'Warning', reason: 'Evicted', message: m.message });
      workers.remove(m.uid, 'Evicted', m.gracePeriodSeconds, { phase: 'Failed', reason: 'Evicted', message: m.message, alone: true });
    },
    reclaim: (signal) => d.reclaim(signal),
  });
  const runtimeUids = new Set<string>();
  const offs = [
    bus.subscribe(
      'pod.state',
      (m) => {
        if (m.type === 'state') {
          runtimeUids.add(m.uid);
          workers.runtimeState(m.uid, m.state, m.events.length > 0);
        } else {
          runtimeUids.delete(m.uid);
          workers.runtimeState(m.uid, undefined, true);
        }
        const pod = workers.podOf(m.uid);
        if (pod) probes.track(pod, workers.cache.get(m.uid));
      },
      { name: 'pod-workers:pod.state', capacity: 10_000 },
    ),
    bus.subscribe(
      'pod.update',
      (m) => {
        if (m.type === 'remove') {
          eviction.forget(m.pod.metadata.uid ?? '');
          workers.remove(m.pod.metadata.uid ?? '', `removed from ${m.source}`, m.gracePeriodSeconds);
          return;
        }
        const uid = m.pod.metadata.uid ?? '';
        if (!workers.has(uid)) {
          // Upstream's first admit handler: what the node refuses under pressure (reason Evicted).
          const pressure = eviction.admit(m.pod);
          if (!pressure.admit) {
            workers.reject(m.pod, pressure.reason, pressure.message);
            return;
          }
          // Admission of a new pod against allocatable and max-pods, beside the pods still running.
          // (upstream filterOutTerminatedPods: pods still terminating count, finished ones do not)
          const active = workers
            .all()
            .filter((w) => w.lifecycle !== 'terminated' && w.status?.phase !== 'Failed' && w.status?.phase !== 'Succeeded')
            .map((w) => w.pod);
          const verdict = admit(m.pod, active, facts.allocatable);
          if (!verdict.admit) {
            workers.reject(m.pod, verdict.reason, verdict.message);
            return;
          }
        }
        workers.update(m.pod);
        probes.track(m.pod, workers.cache.get(uid));
        if (workers.lifecycleOf(uid) === 'syncing') eviction.track(m.pod);
      },
      { name: 'pod-workers:pod.update', capacity: 10_000, coalesce: (m) => m.pod.metadata.uid ?? '' },
    ),
  ];
  return {
    pool,
    workers,
    probes,
    pleg,
    eviction,
    runtimeUids,
    start: () => {
      pleg.start();
      probes.start();
      eviction.start();
    },
    serve: (b) => {
      const undo = [workers.serve(b), pool.serve(b)];
      return () => undo.forEach((off) => off());
    },
    stop: async () => {
      for (const off of offs) off();
      workers.stop();
      await pleg.stop();
      await probes.stop();
      await eviction.stop();
      await pool.close();
    },
  };
}
