// The standalone kubelet, assembled:
//
//   sources (static folder, URL) ─> pod config ─> pod workers (main thread, one actor per UID)
//                                                     │ sync / kill / inspect tasks
//                                                     v
//   PLEG thread ── pod states + events ──>        sync pool (piscina threads) ──> CRI runtime
//        └──────────────────────── CRI ──────────────────────────────────────────┘
//   probe thread <── running containers ── pod workers;  probe results ──> pod workers (status, restarts)
//   HTTPS server (/pods, /metrics, /containerLogs, ...) and /healthz read the workers' statuses.
//
// The runtime is the embedded one (managed containerd, or the simulated runtime in-process) or
// any CRI endpoint. Shutdown (SIGTERM) leaves containers running: a restarted kubelet adopts them
// (pods keep their UIDs; containers carry the upstream labels) and kills only orphans, once
// every source has delivered its first set.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { Logger } from 'pino';
import type { Pod } from './api/core-v1.js';
import { nodeName as nodeNameOf, type KubeletConfig } from './config/kubelet-config.js';
import { kubeletMetrics } from './metrics/kubelet-metrics.js';
import { connectCri } from './native/cri/index.js';
import { collectCriCalls } from './native/cri/call-metrics.js';
import { collectThreadStats, reportThreadStats, type ThreadSnapshot } from './native/thread-stats.js';
import type { CriHandlers } from './native/cri/api.js';
import { ensureServingCert } from './native/certs.js';
import { PodConfig } from './pods/pod-config.js';
import { FileSource, type SourceSnapshot } from './sources/file-source.js';
import { UrlSource } from './sources/url-source.js';
import { SubmitSource, SUBMIT_SOURCE } from './sources/submit-source.js';
import { SyncPool } from './actors/sync-pool/handle.js';
import { PlegActor } from './actors/pleg/handle.js';
import { ProbeActor } from './actors/probes/handle.js';
import { PodWorkers, type PodEvent } from './actors/pod-workers/handle.js';
import { Bus } from './bus/index.js';
import { startKubeletServer, type KubeletServer } from './server/kubelet-server.js';
import { serverAuthFromConfig } from './server/auth-config.js';
import { createCriClient, InProcessCriTransport, type CriClient } from './native/cri/index.js';
import { startClusterMode, type ClusterMode } from './cluster/cluster.js';
import { packageVersion } from './version.js';
import { Housekeeping } from './kubelet/housekeeping.js';
import { ContainerGc } from './kubelet/container-gc.js';
import { podCleanup } from './kubelet/pod-cleanup.js';
import { serverBackend } from './kubelet/server-backend.js';
import { API_SOURCE } from './sources/api-source.js';
import { defaultNodeIP, readHostFacts } from './native/node-info.js';
import { capacityAndAllocatable } from './cluster/node-status.js';
import { quantityValue } from './volumes/resources.js';
import { QosCgroupManager } from './native/cgroups.js';
import { admit } from './pods/admission.js';
import { podCgroupConfig, podCgroupParent } from './pods/resources.js';
import { VolumeManager } from './volumes/volume-manager.js';
import { ApiVolumeObjectSource } from './volumes/objects.js';
import { podPrepare, type PrepareResult } from './volumes/prepare.js';
import { ServicesNotSyncedError } from './volumes/errors.js';
import type { SimRuntime } from './sim/runtime.js';

export class KubeletStartError extends Error {
  readonly code = 'KTS_KUBELET_START';
}

interface RuntimeHandle {
  spec: { endpoint: string; imageEndpoint?: string; name: string } | { embedded: CriHandlers; name: string };
  /** The embedded simulated runtime itself (chaos and benchmarks reach it through Kubelet.embeddedSim). */
  sim?: SimRuntime;
  /** 'leave': keep the runtime and its pods running (a restart adopts them); 'stop': tear down. */
  close(mode: 'leave' | 'stop'): Promise<void>;
  describe: string;
}

async function openRuntime(config: KubeletConfig, log: Logger): Promise<RuntimeHandle> {
  if (config.containerRuntimeEndpoint) {
    const cri = connectCri(config.containerRuntimeEndpoint, { runtimeRequestTimeoutMs: 10_000 });
    try {
      const v = await cri.Version({ version: 'v1' });
      return {
        spec: {
          endpoint: config.containerRuntimeEndpoint,
          name: v.runtimeName,
          ...(config.imageServiceEndpoint ? { imageEndpoint: config.imageServiceEndpoint } : {}),
        },
        close: () => Promise.resolve(),
        describe: `${v.runtimeName} ${v.runtimeVersion} at ${config.containerRuntimeEndpoint}`,
      };
    } catch (err) {
      throw new KubeletStartError(`the container runtime at ${config.containerRuntimeEndpoint} does not answer: ${(err as Error).message}`);
    } finally {
      cri.close();
    }
  }
  if (config.kubeletTS.embeddedRuntime === 'sim') {
    const { SimRuntime } = await import('./sim/index.js');
    const sim = new SimRuntime({ logger: log });
    return { spec: { embedded: sim, name: 'sim' }, sim, close: () => sim.close(), describe: 'the embedded simulated runtime (its pods live in this process)' };
  }
  const { ManagedContainerd, ensureImages } = await import('./native/containerd/index.js');
  const mc = await ManagedContainerd.start({ stateDir: join(config.rootDir, 'containerd'), logger: log, sandboxImage: config.podInfraContainerImage });
  await ensureImages({ endpoint: mc.endpoint, logger: log });
  // On a normal shutdown managed containerd is left running with its pods (detached); the next
  // start adopts it, so a kubelet restart restarts no container.
  return {
    spec: { endpoint: mc.endpoint, name: 'containerd' },
    close: async (mode) => {
      if (mode === 'leave') mc.detach();
      else await mc.stop({ removePods: true });
    },
    describe: `managed containerd at ${mc.endpoint}`,
  };
}

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
  pool: SyncPool;
  config: PodConfig;
  /** CPU seconds and event-loop delay per kubelet thread (also on /metrics). */
  threads(): ThreadSnapshot[];
  /** The embedded simulated runtime, with --embedded-runtime=sim (its chaos methods: crashContainer, faults, latency). */
  embeddedSim: SimRuntime | undefined;
  /** Stops the kubelet; containers keep running unless `runtime: 'stop'` (tests, demos). */
  stop(opts?: { runtime?: 'leave' | 'stop' }): Promise<void>;
}

function readHostResolvConf(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export async function startKubelet(cfg: KubeletConfig, log: Logger, opts: { serve?: boolean } = {}): Promise<Kubelet> {
  const nodeName = nodeNameOf(cfg);
  if (cfg.authorization.mode === 'Webhook' && !cfg.kubeconfig && (opts.serve ?? true)) {
    // (With --kubeconfig, Webhook is the upstream default: SubjectAccessReview through the API server.)
    throw new KubeletStartError(
      'authorization mode Webhook asks the API server (SubjectAccessReview), and there is none without --kubeconfig: for a standalone node set --authorization-mode=AlwaysAllow (authorization.mode: AlwaysAllow)',
    );
  }
  const registry = new Registry();
  // Node's process metrics, minus three gauges whose _total names fail promtool's lint (the
  // same values are exported by type without the suffix).
  const defaults = new Registry();
  collectDefaultMetrics({ register: defaults });
  for (const m of defaults.getMetricsAsArray()) {
    if (!['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'].includes((m as unknown as { name: string }).name))
      registry.registerMetric(m as unknown as Metric);
  }
  const metrics = kubeletMetrics(registry);
  metrics.nodeName.set({ node: nodeName }, 1);
  const stopCollecting = collectCriCalls(registry);
  const threadStats = collectThreadStats(registry);
  const stopMainStats = reportThreadStats('main');

  const bus = new Bus({ name: 'main', registry, logger: log });
  const podIdentity = (pod: Pod): { uid: string; namespace: string; name: string } => ({
    uid: pod.metadata.uid ?? '',
    namespace: pod.metadata.namespace ?? 'default',
    name: pod.metadata.name ?? '',
  });
  const publishPodEvent = (pod: Pod, event: PodEvent): void => {
    bus.publish('pod.event', {
      type: 'event',
      ...podIdentity(pod),
      eventType: event.type,
      reason: event.reason,
      message: event.message,
      ...(event.container ? { container: event.container.name } : {}),
      at: Date.now(),
    });
  };
  const runtime = await openRuntime(cfg, log);
  log.info({ runtime: runtime.describe, node: nodeName }, 'container runtime ready');

  const threads = Math.max(1, Math.min(2, cfg.kubeletTS.maxConcurrentSyncs));
  const pool = new SyncPool({
    runtime: runtime.spec,
    threads,
    concurrentTasksPerThread: Math.ceil(cfg.kubeletTS.maxConcurrentSyncs / threads),
    runtimeRequestTimeoutMs: cfg.runtimeRequestTimeout,
    logger: log,
  });
  const sources = [
    ...['file', 'http'].filter((s) => (s === 'file' ? cfg.staticPodPath : cfg.staticPodURL)),
    SUBMIT_SOURCE,
    ...(cfg.kubeconfig ? [API_SOURCE] : []),
  ];
  let cluster: ClusterMode | undefined;
  // The node's addresses: --node-ip, else the host's first non-loopback IPv4 (pods' hostIP, the
  // downward API's status.hostIP and the Node's InternalIP all use the same).
  const nodeIPs = cfg.nodeIP
    ? cfg.nodeIP
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)
    : [defaultNodeIP() ?? '127.0.0.1'];
  // Volumes and env of each pod, prepared on this thread before its sync (set once the API
  // client exists, before any source delivers a pod).
  // The API object source is bound late: the API client exists only once cluster mode started.
  const apiObjects = (): ApiVolumeObjectSource => {
    if (!cluster) throw new Error("couldn't read the object: the API server client is not ready");
    return new ApiVolumeObjectSource(cluster.client);
  };
  // resourceFieldRef limits a container does not set read as the node's allocatable, the one the Node reports (upstream).
  const alloc = capacityAndAllocatable({
    host: readHostFacts(cfg.rootDir),
    maxPods: cfg.maxPods,
    systemReserved: cfg.systemReserved,
    kubeReserved: cfg.kubeReserved,
    evictionHard: cfg.evictionHard,
  }).allocatable;
  const volumes = new VolumeManager({
    rootDir: cfg.rootDir,
    logger: log,
    nodeAllocatable: {
      cpu: quantityValue(alloc['cpu'] ?? '0'),
      memory: quantityValue(alloc['memory'] ?? '0'),
      ephemeralStorage: quantityValue(alloc['ephemeral-storage'] ?? '0'),
    },
    // Secrets and configMaps are re-read on the pod resync period, as upstream (sync-frequency).
    refreshIntervalMs: cfg.syncFrequency,
    ...(cfg.kubeconfig
      ? {
          objects: {
            getSecret: (ns: string, name: string) => apiObjects().getSecret(ns, name),
            getConfigMap: (ns: string, name: string) => apiObjects().getConfigMap(ns, name),
            requestToken: (ns: string, sa: string, req: Parameters<ApiVolumeObjectSource['requestToken']>[2]) => apiObjects().requestToken(ns, sa, req),
          },
        }
      : {}),
  });
  const hostIPForEnv = nodeIPs[0];
  const prepare: (pod: Pod) => Promise<PrepareResult> = podPrepare(volumes, {
    nodeName,
    ...(hostIPForEnv ? { hostIP: hostIPForEnv } : {}),
    // Service links come from the API server's Services; a kubelet without one injects none.
    ...(cfg.kubeconfig ? { serviceEnv: (pod: Pod) => (cluster ? cluster.serviceEnv(pod) : Promise.reject(new ServicesNotSyncedError())) } : {}),
    onFailedMount: (pod, failures) => {
      for (const f of failures) {
        log.warn({ pod: `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`, volume: f.volume, err: f.message }, 'FailedMount');
        publishPodEvent(pod, { type: 'Warning', reason: 'FailedMount', message: f.message });
      }
    },
    onInvalidEnvNames: (pod, container, skipped) => {
      for (const s of skipped)
        publishPodEvent(pod, {
          type: 'Warning',
          reason: 'InvalidEnvironmentVariableNames',
          message: `Keys [${s.keys.join(', ')}] from the EnvFrom ${s.source} were skipped since they are considered invalid environment variable names.`,
          container: { name: container, init: false },
        });
    },
  });
  const podConfig = new PodConfig(sources);
  // Node facts for resources and admission: the same host reading and allocatable as the Node's status.
  const host = readHostFacts(cfg.rootDir);
  const allocatable = capacityAndAllocatable({
    host,
    maxPods: cfg.maxPods,
    systemReserved: cfg.systemReserved,
    kubeReserved: cfg.kubeReserved,
    evictionHard: cfg.evictionHard,
  }).allocatable;
  // The simulated runtime (embedded 'sim', or behind a socket: 'kubelet-ts-sim') runs no
  // processes: its pods get no host cgroups.
  const cgroups = cfg.cgroupsPerQOS && runtime.spec.name !== 'sim' && runtime.spec.name !== 'kubelet-ts-sim' ? new QosCgroupManager() : undefined;
  const cleanUpGonePod = podCleanup({ rootDir: cfg.rootDir, podLogsDir: cfg.podLogsDir, cgroups, volumes, logger: log });
  const workers = new PodWorkers({
    pool,
    sandbox: {
      podLogsDir: cfg.podLogsDir,
      hostResolvConf: readHostResolvConf(cfg.resolvConf),
      clusterDNS: cfg.clusterDNS,
      clusterDomain: cfg.clusterDomain || 'cluster.local',
      machineMemoryBytes: host.memoryBytes,
      cgroupRoot: cfg.cgroupRoot,
      cgroupsPerQOS: cfg.cgroupsPerQOS,
      seccompProfileRoot: join(cfg.rootDir, 'seccomp'),
      rootDir: cfg.rootDir,
      podsDir: join(cfg.rootDir, 'pods'),
    },
    ...(nodeIPs[0] ? { hostIP: nodeIPs[0] } : {}),
    crashLoopBackOff: { initialMs: cfg.kubeletTS.crashLoopBackOffInitial, maxMs: cfg.kubeletTS.crashLoopBackOffMax },
    worker: { syncFrequencyMs: cfg.syncFrequency },
    metrics,
    logger: log,
    // Statuses, events and the workers' ends go out on the bus: the cluster parts (cluster mode)
    // and the NATS bridge read them there.
    onStatus: (pod, status) => bus.publish('pod.status', { type: 'status', ...podIdentity(pod), status }),
    onTerminated: (pod, status) => bus.publish('pod.worker', { type: 'terminated', ...podIdentity(pod), ...(status ? { status } : {}) }),
    onEvent: publishPodEvent,
    onGone: (uid, pod) => {
      bus.publish('pod.worker', { type: 'gone', ...podIdentity(pod) });
      probes.forget(uid);
      cleanUpGonePod(uid, pod);
    },
    // The pod cgroup (QoS tier, limits) exists before the sandbox names it as its parent.
    prepare: (pod) => {
      const cgErrors = cgroups?.ensurePod(pod.metadata.uid ?? '', podCgroupParent(pod, cfg.cgroupRoot, true), podCgroupConfig(pod)) ?? [];
      if (cgErrors.length > 0) log.warn({ pod: `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`, errors: cgErrors }, 'pod cgroup not fully set up');
      return prepare(pod);
    },
    probes: { statusInputs: (uid) => probes.statusInputs(uid), verdicts: (uid) => probes.verdicts(uid) },
  });
  // The probe thread probes what the pod workers run; its result changes come back to them.
  const probes = new ProbeActor({
    runtime: runtime.spec,
    bus,
    runtimeRequestTimeoutMs: cfg.runtimeRequestTimeout,
    ...(nodeIPs[0] ? { hostIP: nodeIPs[0] } : {}),
    logger: log,
    onResult: (m) => workers.probeResult(m.podUid, m.probe, m.result),
  });
  const runtimeUids = new Set<string>();
  const pleg = new PlegActor({
    runtime: runtime.spec,
    relistPeriodMs: 1000,
    evented: cfg.kubeletTS.eventedPleg,
    runtimeRequestTimeoutMs: cfg.runtimeRequestTimeout,
    metrics,
    logger: log,
    bus,
  });
  // The pod workers listen to the bus: runtime states from the PLEG thread, desired state from
  // pod config (latest wins per pod UID when they fall behind).
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
  );
  bus.subscribe(
    'pod.update',
    (m) => {
      if (m.type === 'remove') workers.remove(m.pod.metadata.uid ?? '', `removed from ${m.source}`, m.gracePeriodSeconds);
      else {
        const uid = m.pod.metadata.uid ?? '';
        if (!workers.has(uid)) {
          // Admission of a new pod against allocatable and max-pods, beside the pods still running.
          // (upstream filterOutTerminatedPods: pods still terminating count, finished ones do not)
          const active = workers
            .all()
            .filter((w) => w.lifecycle !== 'terminated' && w.status?.phase !== 'Failed' && w.status?.phase !== 'Succeeded')
            .map((w) => w.pod);
          const verdict = admit(m.pod, active, allocatable);
          if (!verdict.admit) {
            workers.reject(m.pod, verdict.reason, verdict.message);
            return;
          }
        }
        workers.update(m.pod);
        probes.track(m.pod, workers.cache.get(uid));
      }
    },
    { name: 'pod-workers:pod.update', capacity: 10_000, coalesce: (m) => m.pod.metadata.uid ?? '' },
  );

  const applyChanges = ({ changes, refused }: ReturnType<PodConfig['set']>): void => {
    for (const r of refused) {
      log.error({ source: r.source, pod: r.fullName, uid: r.uid }, `pod refused: ${r.reason}`);
      // An API pod the node will not run (its fields cannot name host folders): say so on the pod, as upstream's FailedValidation.
      if (r.pod && r.source === API_SOURCE)
        publishPodEvent(r.pod, {
          type: 'Warning',
          reason: 'FailedValidation',
          message: `Error validating pod ${r.fullName} from ${r.source}, ignoring: ${r.reason}`,
        });
    }
    for (const c of changes) bus.publish('pod.update', { type: c.op, pod: c.pod, source: c.source });
    const apiPods = podConfig.sizeOf(API_SOURCE);
    metrics.desiredPods.set({ static: 'true' }, podConfig.size - apiPods);
    metrics.desiredPods.set({ static: 'false' }, apiPods);
  };
  const onSnapshot = (snap: SourceSnapshot): void => {
    applyChanges(podConfig.set(snap.source, snap.pods));
    cluster?.staticPodsChanged();
  };
  const fileSource = cfg.staticPodPath
    ? new FileSource({ path: cfg.staticPodPath, nodeName, checkEveryMs: cfg.fileCheckFrequency, logger: log, onSnapshot })
    : undefined;
  const urlSource = cfg.staticPodURL
    ? new UrlSource({ url: cfg.staticPodURL, headers: cfg.staticPodURLHeader, nodeName, checkEveryMs: cfg.httpCheckFrequency, logger: log, onSnapshot })
    : undefined;

  const submitSource = new SubmitSource({ file: join(cfg.rootDir, 'submitted-pods.json'), nodeName, onSnapshot, logger: log });
  // The main thread's own CRI client: node health (CRI Status) and the image list for the Node.
  let mainCri: CriClient | undefined;
  if (cfg.kubeconfig) {
    mainCri =
      'embedded' in runtime.spec
        ? createCriClient(new InProcessCriTransport(runtime.spec.embedded, runtime.spec.name), { runtimeRequestTimeoutMs: cfg.runtimeRequestTimeout })
        : connectCri(runtime.spec.endpoint, {
            runtimeRequestTimeoutMs: cfg.runtimeRequestTimeout,
            ...(runtime.spec.imageEndpoint ? { imageEndpoint: runtime.spec.imageEndpoint } : {}),
          });
    try {
      cluster = await startClusterMode({
        cfg,
        nodeName,
        log,
        registry,
        podConfig,
        applyChanges,
        cri: mainCri,
        plegHealth: () => pleg.health(),
        nodeIPs,
        workerLifecycle: (uid) => workers.lifecycleOf(uid),
        workerStatus: (uid) => workers.statusOf(uid),
        staticSourcesReady: () => sources.filter((s) => s !== API_SOURCE).every((s) => podConfig.hasSpoken(s)),
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
  // Secrets and configMaps are re-read on the pod resync period, as upstream (sync-frequency).
  volumes.start();
  pleg.start();
  probes.start();
  submitSource.start();
  await fileSource?.start();
  await urlSource?.start();

  // Housekeeping (every 2 s, as upstream) and container GC, each a module of its own.
  const housekeeping = new Housekeeping({ workers, pool, podConfig, volumes, runtimeUids, podLogsDir: cfg.podLogsDir, metrics, logger: log });
  const containerGc = new ContainerGc({
    workers,
    pool,
    maxDeadContainersPerContainer: cfg.maxDeadContainersPerContainer,
    periodMs: cfg.kubeletTS.containerGcPeriod,
    logger: log,
  });
  // One list of health checks: /healthz runs them, actors.health answers them on the bus.
  const healthChecks = [
    { name: 'syncloop', check: () => housekeeping.health() },
    { name: 'pleg', check: () => pleg.health() },
    { name: 'probes', check: () => probes.health() },
  ];
  // The actors' commands on the main bus (the PLEG and probe threads serve theirs on their own).
  const unserve = [
    workers.serve(bus),
    pool.serve(bus),
    // (The actors first, then the sync loop; /healthz keeps upstream's order.)
    bus.serve('actors.health', () => ({ actors: [...healthChecks.slice(1), ...healthChecks.slice(0, 1)].map((h) => ({ actor: h.name, ...h.check() })) })),
  ];
  housekeeping.start();
  containerGc.start();

  let server: KubeletServer | undefined;
  if (opts.serve ?? true) {
    const hosts = ['127.0.0.1', 'localhost', ...(cfg.nodeIP ? cfg.nodeIP.split(',') : [])];
    const tls = await ensureServingCert({
      certDir: cfg.certDir,
      nodeName,
      hosts,
      ...(cfg.tlsCertFile ? { certFile: cfg.tlsCertFile } : {}),
      ...(cfg.tlsPrivateKeyFile ? { keyFile: cfg.tlsPrivateKeyFile } : {}),
    });
    const clientCA = cfg.authentication.x509.clientCAFile ? readFileSync(cfg.authentication.x509.clientCAFile, 'utf8') : undefined;
    // Upstream's delegated auth: bearer tokens through TokenReview and every request through
    // SubjectAccessReview, both asked of the API server as this node (cached by TTL).
    let auth: ReturnType<typeof serverAuthFromConfig>;
    try {
      auth = serverAuthFromConfig(cfg, cluster?.client, { logger: log });
    } catch (err) {
      throw new KubeletStartError((err as Error).message);
    }
    // exec / attach / port-forward: the runtime's streaming URL, asked through the main thread's CRI client.
    const streamCri =
      mainCri ??
      ('embedded' in runtime.spec
        ? createCriClient(new InProcessCriTransport(runtime.spec.embedded, runtime.spec.name), { runtimeRequestTimeoutMs: cfg.runtimeRequestTimeout })
        : connectCri(runtime.spec.endpoint, { runtimeRequestTimeoutMs: cfg.runtimeRequestTimeout }));
    mainCri = streamCri;
    server = await startKubeletServer({
      address: cfg.address,
      port: cfg.port,
      tls: { cert: tls.cert, key: tls.key, ...(clientCA ? { clientCA } : {}) },
      anonymous: cfg.authentication.anonymous.enabled,
      authorizer: auth.authorizer,
      ...(auth.tokens ? { tokens: auth.tokens } : {}),
      ...(cfg.healthzPort > 0 ? { healthz: { address: cfg.healthzBindAddress, port: cfg.healthzPort } } : {}),
      logger: log,
      backend: serverBackend({
        cfg,
        nodeName,
        workers,
        probes,
        registry,
        streamCri,
        submitSource,
        healthChecks,
      }),
    });
    log.info({ port: server.port, healthzPort: server.healthzPort }, 'kubelet server listening');
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
    pool,
    config: podConfig,
    threads: () => threadStats.snapshot(),
    embeddedSim: runtime.sim,
    stop: async (stopOpts = {}) => {
      cluster?.stop();
      volumes.stop();
      mainCri?.close();
      housekeeping.stop();
      containerGc.stop();
      stopCollecting();
      threadStats.close();
      stopMainStats();
      fileSource?.stop();
      urlSource?.stop();
      await server?.close();
      for (const off of unserve) off();
      workers.stop();
      await pleg.stop();
      await probes.stop();
      await pool.close();
      bus.close();
      const mode = stopOpts.runtime ?? 'leave';
      await runtime.close(mode);
      // With the runtime gone its pods are gone: so are their cgroups (left alone when pods keep running).
      if (mode === 'stop' && cgroups) for (const uid of cgroups.podPaths().keys()) cgroups.removePod(uid);
      log.info({ runtime: mode }, mode === 'leave' ? 'kubelet stopped; containers keep running' : 'kubelet stopped with its runtime');
    },
  };
}
