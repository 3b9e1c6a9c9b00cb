// The kubelet, composed of its subsystems (each a module of src/kubelet/ or a part of src/):
//
//   sources (static folder, URL, submitted, API) ─pod.update─> pod workers ─> sync pool ─> CRI
//   PLEG thread ─pod.state─> pod workers;  probe thread <─> pod workers (running containers, results)
//   pod workers ─pod.status, pod.event, pod.worker─> cluster mode (status manager, mirror pods, events)
//   housekeeping and container GC on their periods; the HTTPS API and /healthz read the workers.
//
// The runtime is the embedded one (managed containerd, or the simulated runtime in-process) or
// any CRI endpoint. Shutdown (SIGTERM) leaves containers running: a restarted kubelet adopts them
// (pods keep their UIDs; containers carry the upstream labels) and kills only orphans, once
// every source has delivered its first set.
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { KubeletConfig } from './config/kubelet-config.js';
import type { ThreadSnapshot } from './native/thread-stats.js';
import type { CriClient } from './native/cri/index.js';
import type { PodConfig } from './pods/pod-config.js';
import type { SyncPool } from './actors/sync-pool/handle.js';
import type { EvictionActor } from './actors/eviction/handle.js';
import type { PlegActor } from './actors/pleg/handle.js';
import type { ProbeActor } from './actors/probes/handle.js';
import type { PodWorkers } from './actors/pod-workers/handle.js';
import { Bus } from './bus/index.js';
import type { KubeletServer } from './server/kubelet-server.js';
import { startClusterMode, type ClusterMode } from './cluster/cluster.js';
import { packageVersion } from './version.js';
import { QosCgroupManager } from './native/cgroups.js';
import type { SimRuntime } from './sim/runtime.js';
import { Housekeeping } from './kubelet/housekeeping.js';
import { ContainerGc } from './kubelet/container-gc.js';
import { ImageGc } from './kubelet/image-gc.js';
import { imageFsUsage } from './stats/node-signals.js';
import { podCleanup } from './kubelet/pod-cleanup.js';
import { isSimRuntime, KubeletStartError, mainThreadCri, openRuntime } from './kubelet/runtime.js';
import { startTelemetry } from './kubelet/telemetry.js';
import { nodeFacts } from './kubelet/node-facts.js';
import { podEventPublisher } from './kubelet/pod-events.js';
import { podPreparation } from './kubelet/pod-preparation.js';
import { nodeActors } from './kubelet/node-actors.js';
import { podSources } from './kubelet/pod-sources.js';
import { startHttps } from './kubelet/https.js';

export { KubeletStartError };

export interface Kubelet {
  nodeName: string;
  bus: Bus;
  server: KubeletServer | undefined;
  registry: Registry;
  workers: PodWorkers;
  /** The API server side (registration, status, pod watch, mirror pods, events), with --kubeconfig. */
  cluster: ClusterMode | undefined;
  pleg: PlegActor;
  probes: ProbeActor;
  /** The eviction watcher: the node's pressure conditions and what it evicted. */
  eviction: EvictionActor;
  pool: SyncPool;
  config: PodConfig;
  /** CPU seconds and event-loop delay per kubelet thread (also on /metrics). */
  threads(): ThreadSnapshot[];
  /** The embedded simulated runtime, with --embedded-runtime=sim (its chaos methods: crashContainer, faults, latency). */
  embeddedSim: SimRuntime | undefined;
  /** Stops the kubelet; containers keep running unless `runtime: 'stop'` (tests, demos). */
  stop(opts?: { runtime?: 'leave' | 'stop' }): Promise<void>;
}

export async function startKubelet(cfg: KubeletConfig, log: Logger, opts: { serve?: boolean } = {}): Promise<Kubelet> {
  if (cfg.authorization.mode === 'Webhook' && !cfg.kubeconfig && (opts.serve ?? true)) {
    // (With --kubeconfig, Webhook is the upstream default: SubjectAccessReview through the API server.)
    throw new KubeletStartError(
      'authorization mode Webhook asks the API server (SubjectAccessReview), and there is none without --kubeconfig: for a standalone node set --authorization-mode=AlwaysAllow (authorization.mode: AlwaysAllow)',
    );
  }
  const facts = nodeFacts(cfg);
  const { nodeName } = facts;
  const telemetry = startTelemetry(nodeName);
  const { registry, metrics } = telemetry;
  const bus = new Bus({ name: 'main', registry, logger: log });
  const publishPodEvent = podEventPublisher(bus);
  const runtime = await openRuntime(cfg, log);
  log.info({ runtime: runtime.describe, node: nodeName }, 'container runtime ready');

  let cluster: ClusterMode | undefined;
  // The simulated runtime (embedded 'sim', or behind a socket: 'kubelet-ts-sim') runs no processes: its pods get no host cgroups.
  const cgroups = cfg.cgroupsPerQOS && !isSimRuntime(runtime.spec.name) ? new QosCgroupManager() : undefined;
  const prep = podPreparation({ cfg, facts, cgroups, cluster: () => cluster, publishPodEvent, logger: log });
  const cleanUpGonePod = podCleanup({ rootDir: cfg.rootDir, podLogsDir: cfg.podLogsDir, cgroups, volumes: prep.volumes, logger: log });
  const actors = nodeActors({
    cfg,
    facts,
    runtime,
    bus,
    metrics,
    prepare: prep.prepare,
    onGone: cleanUpGonePod,
    // A terminated pod never runs again: its volumes are torn down now (an evicted pod's
    // memory-backed emptyDir is what relieves the pressure), not when its API object goes.
    onTerminated: (uid) =>
      void prep.volumes.tearDown(uid).catch((err: unknown) => log.warn({ uid, err: (err as Error).message }, 'volumes of a terminated pod not torn down')),
    publishPodEvent,
    // Node-level reclaim for disk pressure (upstream: DeleteAllUnusedContainers, then DeleteUnusedImages).
    reclaim: async () => {
      await containerGc.reclaim();
      return imageGc.deleteUnused();
    },
    logger: log,
  });
  const { workers, pool, pleg, probes, eviction } = actors;
  const sources = podSources({ cfg, nodeName, bus, metrics, publishPodEvent, onStaticChange: () => cluster?.staticPodsChanged(), logger: log });

  // The main thread's own CRI client: node health (CRI Status), the image list, streaming URLs.
  let mainCri: CriClient | undefined;
  if (cfg.kubeconfig) {
    mainCri = mainThreadCri(runtime, cfg, true);
    try {
      cluster = await startClusterMode({
        cfg,
        nodeName,
        log,
        registry,
        podConfig: sources.podConfig,
        applyChanges: sources.apply,
        cri: mainCri,
        plegHealth: () => pleg.health(),
        nodeIPs: facts.nodeIPs,
        workerLifecycle: (uid) => workers.lifecycleOf(uid),
        workerStatus: (uid) => workers.statusOf(uid),
        staticSourcesReady: sources.staticSourcesReady,
        kubeletVersion: packageVersion(),
        podStatusSyncDuration: metrics.podStatusSyncDuration,
        bus,
        podOf: (uid) => workers.podOf(uid),
      });
    } catch (err) {
      mainCri.close();
      await pool.close();
      bus.close();
      await runtime.close('leave');
      throw new KubeletStartError((err as Error).message);
    }
  }
  prep.volumes.start();
  actors.start();
  await sources.start();

  const housekeeping = new Housekeeping({
    workers,
    pool,
    podConfig: sources.podConfig,
    volumes: prep.volumes,
    runtimeUids: actors.runtimeUids,
    podLogsDir: cfg.podLogsDir,
    metrics,
    logger: log,
  });
  const containerGc = new ContainerGc({
    workers,
    pool,
    maxDeadContainersPerContainer: cfg.maxDeadContainersPerContainer,
    periodMs: cfg.kubeletTS.containerGcPeriod,
    logger: log,
  });
  // Image GC on the main thread's own CRI channel: a few calls every 5 minutes.
  const gcCri = mainThreadCri(runtime, cfg, true);
  const imageGc = new ImageGc({
    cri: gcCri,
    policy: { highThresholdPercent: cfg.imageGCHighThresholdPercent, lowThresholdPercent: cfg.imageGCLowThresholdPercent, minAgeMs: cfg.imageMinimumGCAge },
    sandboxImage: cfg.podInfraContainerImage,
    imageFs: () => imageFsUsage(gcCri, isSimRuntime(runtime.spec.name)),
    nodeEvent: (reason, message) => bus.publish('node.event', { type: 'event', eventType: 'Warning', reason, message, at: Date.now() }),
    logger: log.child({ component: 'image-gc' }),
  });
  // One list of health checks: /healthz runs them (upstream's order), actors.health answers them on the bus (the actors first).
  const healthChecks = [
    { name: 'syncloop', check: () => housekeeping.health() },
    { name: 'pleg', check: () => pleg.health() },
    { name: 'probes', check: () => probes.health() },
    { name: 'eviction', check: () => eviction.health() },
  ];
  const unserve = [
    actors.serve(bus),
    bus.serve('actors.health', () => ({ actors: [...healthChecks.slice(1), ...healthChecks.slice(0, 1)].map((h) => ({ actor: h.name, ...h.check() })) })),
  ];
  housekeeping.start();
  containerGc.start();
  imageGc.start();

  let server: KubeletServer | undefined;
  if (opts.serve ?? true) {
    mainCri ??= mainThreadCri(runtime, cfg, false);
    server = await startHttps({
      cfg,
      nodeName,
      workers,
      probes,
      eviction,
      registry,
      streamCri: mainCri,
      submitSource: sources.submitSource,
      healthChecks,
      apiClient: cluster?.client,
      logger: log,
    });
  }

  return {
    nodeName,
    bus,
    server,
    registry,
    workers,
    cluster,
    pleg,
    probes,
    eviction,
    pool,
    config: sources.podConfig,
    threads: telemetry.threads,
    embeddedSim: runtime.sim,
    stop: async (stopOpts = {}) => {
      cluster?.stop();
      prep.volumes.stop();
      mainCri?.close();
      housekeeping.stop();
      containerGc.stop();
      imageGc.stop();
      gcCri.close();
      telemetry.stop();
      sources.stop();
      await server?.close();
      for (const off of unserve) off();
      await actors.stop();
      bus.close();
      const mode = stopOpts.runtime ?? 'leave';
      await runtime.close(mode);
      // With the runtime gone its pods are gone: so are their cgroups (left alone when pods keep running).
      if (mode === 'stop' && cgroups) for (const uid of cgroups.podPaths().keys()) cgroups.removePod(uid);
      log.info({ runtime: mode }, mode === 'leave' ? 'kubelet stopped; containers keep running' : 'kubelet stopped with its runtime');
    },
  };
}
