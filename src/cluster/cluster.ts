// The kubelet as a node of a cluster (--kubeconfig): everything that talks to the API server,
// assembled on the main thread beside the standalone kubelet.
//
//   API client (priority rate limit: heartbeat > normal > bulk)
//     ├─ node status + Lease (heartbeat) ......... NodeStatusManager
//     ├─ pods bound to the node (list + watch) ... ApiSource ─> pod config ('api' source)
//     ├─ pod statuses (bulk, coalesced) .......... StatusManager  <─ pod workers' statuses
//     ├─ mirror pods of static pods .............. MirrorPods     <─ the static sources
//     └─ events (own client, eventRecordQPS) ..... EventRecorder  <─ pod workers, node
//
// The standalone kubelet hands this module what happens to pods (statuses, terminations,
// events, pods gone) through the `ClusterMode` hooks; nothing here touches the runtime except a
// CRI client of its own for the node's health and image list.
import type { Logger } from 'pino';
import { Counter, Histogram, Gauge, type Registry } from 'prom-client';
import type { Pod, PodStatus } from '../api/core-v1.js';
import { ApiClient, type RequestInfo } from '../api/client.js';
import { EventRecorder } from '../api/events.js';
import type { ObjectReference } from '../api/objects.js';
import type { KubeletConfig } from '../config/kubelet-config.js';
import { NodeStatusManager, defaultNodeLabels, forbiddenNodeLabels, type NodeHealth, type NodeStatusInputs } from './node-status.js';
import { StatusManager, type StatusTarget } from './status-manager.js';
import { MirrorPods } from './mirror-pods.js';
import type { Bus, MessageOf } from '../bus/index.js';
import { ApiSource, API_SOURCE } from '../sources/api-source.js';
import { ServiceCache } from '../api/service-cache.js';
import { serviceEnvFor } from '../volumes/service-env.js';
import { ServicesNotSyncedError } from '../volumes/errors.js';
import { readHostFacts } from '../native/node-info.js';
import type { CriClient } from '../native/cri/index.js';
import type { PodConfig } from '../pods/pod-config.js';
import { ANNOTATION_CONFIG_SOURCE } from '../pods/static-pod.js';

export class ClusterStartError extends Error {
  readonly code = 'KTS_CLUSTER_START';
}

export interface ClusterModeDeps {
  cfg: KubeletConfig;
  nodeName: string;
  log: Logger;
  registry: Registry;
  podConfig: PodConfig;
  /** Applies pod config changes (publishes pod.update). */
  applyChanges(result: ReturnType<PodConfig['set']>): void;
  cri: CriClient;
  plegHealth(): { ok: boolean; message?: string };
  /** The node's addresses (--node-ip, else the host's first non-loopback one). */
  nodeIPs: string[];
  /** The pod worker's lifecycle and status of a pod UID (a terminated pod deleted later). */
  workerLifecycle(uid: string): 'syncing' | 'terminating' | 'terminated' | undefined;
  workerStatus(uid: string): PodStatus | undefined;
  /** Every static source (file, URL, submitted) has delivered its first set. */
  staticSourcesReady(): boolean;
  kubeletVersion: string;
  podStatusSyncDuration?: Histogram;
  /** The main bus: pod statuses, pod events and the workers' ends arrive here (pod.status, pod.event, pod.worker). */
  bus: Bus;
  /** The pod a worker holds, by UID (undefined once it is gone). */
  podOf(uid: string): Pod | undefined;
}

export interface ClusterMode {
  client: ApiClient;
  nodeStatus: NodeStatusManager;
  statusManager: StatusManager;
  apiSource: ApiSource;
  services: ServiceCache;
  /** A pod's service env vars; an API pod waits a moment for the first service list, then fails as upstream. */
  serviceEnv(pod: Pod): Promise<Record<string, string>>;
  mirrorPods: MirrorPods;
  events: EventRecorder;
  staticPodsChanged(): void;
  stop(): void;
}

/** How long an API pod's sync waits for the first service list before failing with upstream's error. */
const SERVICE_SYNC_WAIT_MS = 5000;

function isApiPod(pod: Pod): boolean {
  return pod.metadata.annotations?.[ANNOTATION_CONFIG_SOURCE] === API_SOURCE;
}

function clientMetrics(registry: Registry): (info: RequestInfo) => void {
  const total = new Counter({
    name: 'rest_client_requests_total',
    help: 'Number of HTTP requests, partitioned by status code, method, and host.',
    labelNames: ['code', 'method', 'host'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'rest_client_request_duration_seconds',
    help: 'Request latency in seconds. Broken down by verb, and host.',
    labelNames: ['verb', 'host'],
    buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
    registers: [registry],
  });
  return (info) => {
    total.inc({ code: info.status === 0 ? '<error>' : String(info.status), method: info.method, host: '' });
    duration.observe({ verb: info.method, host: '' }, info.seconds);
  };
}

export async function startClusterMode(d: ClusterModeDeps): Promise<ClusterMode> {
  const { cfg, nodeName, log } = d;
  const forbidden = forbiddenNodeLabels(cfg.nodeLabels);
  if (forbidden.length > 0) {
    throw new ClusterStartError(
      `unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: [${forbidden.join(' ')}]; --node-labels in the 'kubernetes.io' namespace must begin with an allowed prefix (kubelet.kubernetes.io, node.kubernetes.io) or be in the specifically allowed set (kubernetes.io/hostname, kubernetes.io/os, kubernetes.io/arch, topology.kubernetes.io/region, topology.kubernetes.io/zone, node.kubernetes.io/instance-type, ...)`,
    );
  }
  const onRequest = clientMetrics(d.registry);
  const userAgent = `kubelet-ts/${d.kubeletVersion} (linux/${process.arch === 'x64' ? 'amd64' : process.arch})`;
  let client: ApiClient;
  try {
    client = await ApiClient.fromKubeconfig(cfg.kubeconfig, { qps: cfg.kubeAPIQPS, burst: cfg.kubeAPIBurst, userAgent, onRequest });
  } catch (err) {
    throw new ClusterStartError((err as Error).message);
  }
  const eventsClient = new ApiClient(client.connection, { qps: cfg.eventRecordQPS, burst: cfg.eventBurst, userAgent, onRequest });
  const waiting = new Gauge({
    name: 'kubelet_ts_api_requests_waiting',
    help: 'API server requests waiting for the client-side rate limiter, by priority.',
    labelNames: ['priority'],
    registers: [d.registry],
    collect() {
      for (const p of ['heartbeat', 'normal', 'bulk'] as const) this.set({ priority: p }, client.waiting(p));
    },
  });
  void waiting;

  const host = readHostFacts(cfg.rootDir);
  const nodeIPs = d.nodeIPs;
  const labels = defaultNodeLabels(nodeName, host, cfg.nodeLabels);
  let runtimeVersion = '';
  try {
    const v = await d.cri.Version({ version: 'v1' });
    runtimeVersion = `${v.runtimeName}://${v.runtimeVersion}`;
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'container runtime version unknown');
  }

  const pressure = new Set<string>();
  const offPressure = d.bus.subscribe(
    'eviction',
    (m) => {
      if (m.type !== 'conditions') return;
      pressure.clear();
      for (const c of m.conditions) pressure.add(c);
    },
    { name: 'cluster:eviction', capacity: 1000 },
  );
  const health = async (): Promise<NodeHealth> => {
    const h: NodeHealth = { runtimeReady: false, networkReady: false, pleg: d.plegHealth(), memoryPressure: false, diskPressure: false, pidPressure: false };
    try {
      const st = await d.cri.Status({ verbose: false }, { timeoutMs: 5000 });
      const conds = st.status?.conditions ?? [];
      const rt = conds.find((c) => c.type === 'RuntimeReady');
      const net = conds.find((c) => c.type === 'NetworkReady');
      h.runtimeReady = rt?.status === true;
      if (!h.runtimeReady)
        h.runtimeMessage = `container runtime status check may not have completed yet: RuntimeReady=false reason:${rt?.reason ?? ''} message:${rt?.message ?? ''}`;
      h.networkReady = net?.status === true;
      if (!h.networkReady) h.networkMessage = `NetworkReady=false reason:${net?.reason ?? ''} message:${net?.message ?? ''}`;
    } catch (err) {
      h.runtimeReady = false;
      h.networkReady = true; // one message is enough: the runtime is down
      h.runtimeMessage = `container runtime is down: ${(err as Error).message}`;
    }
    // The eviction watcher decides pressure (its thresholds, minimum reclaim, transition period).
    h.memoryPressure = pressure.has('MemoryPressure');
    h.diskPressure = pressure.has('DiskPressure');
    h.pidPressure = pressure.has('PIDPressure');
    return h;
  };
  const images = async (): Promise<NodeStatusInputs['images']> => {
    try {
      const r = await d.cri.ListImages({}, { timeoutMs: 5000 });
      return r.images.map((i) => ({ names: [...i.repoDigests, ...i.repoTags], sizeBytes: Number(i.size ?? 0) }));
    } catch {
      return [];
    }
  };

  const events = new EventRecorder({ client: eventsClient, nodeName, logger: log });
  const nodeRef = (): ObjectReference => ({ kind: 'Node', name: nodeName, uid: nodeName, apiVersion: 'v1' });

  const nodeStatus = new NodeStatusManager({
    client,
    nodeName,
    register: cfg.registerNode,
    labels,
    taints: cfg.registerWithTaints,
    updateEveryMs: cfg.nodeStatusUpdateFrequency,
    reportEveryMs: cfg.nodeStatusReportFrequency,
    leaseDurationSeconds: cfg.nodeLeaseDurationSeconds,
    logger: log,
    inputs: async () => ({
      host,
      nodeName,
      kubeletVersion: nodeKubeletVersion(d.kubeletVersion),
      runtimeVersion,
      nodeIPs,
      hostnameAddress: cfg.hostnameOverride || host.hostname,
      port: cfg.port,
      maxPods: cfg.maxPods,
      systemReserved: cfg.systemReserved,
      kubeReserved: cfg.kubeReserved,
      evictionHard: cfg.evictionHard,
      health: await health(),
      images: await images(),
    }),
    onReadyChange: (ready, message) =>
      events.record(
        nodeRef(),
        'Normal',
        ready ? 'NodeReady' : 'NodeNotReady',
        ready ? `Node ${nodeName} status is now: NodeReady` : `Node ${nodeName} status is now: NodeNotReady (${message})`,
      ),
  });

  const statusManager = new StatusManager({ client, logger: log, ...(d.podStatusSyncDuration ? { syncDuration: d.podStatusSyncDuration } : {}) });
  /** Latest status per static pod UID, re-sent when its mirror appears. */
  const staticStatuses = new Map<string, { pod: Pod; status: PodStatus }>();
  const mirrorPods = new MirrorPods({
    client,
    nodeName,
    nodeUid: () => nodeStatus.current?.metadata.uid,
    staticSourcesReady: () => d.staticSourcesReady(),
    logger: log,
    onMirrorChange: (staticUid, mirror) => {
      const s = staticStatuses.get(staticUid);
      if (s && mirror) statusManager.setStatus(mirror, s.status);
    },
  });

  const apiSource = new ApiSource({
    client,
    nodeName,
    logger: log,
    onFullSet: (pods) => {
      for (const p of pods) if (p.metadata.uid) statusManager.apiStatus(p.metadata.uid, p.status);
      listedPods = new Set(pods.map((p) => p.metadata.uid ?? ''));
      statusManager.retainOnly(new Set([...listedPods, ...listedMirrors]));
      d.applyChanges(d.podConfig.set(API_SOURCE, pods));
      finishDeleted(pods);
    },
    onDelta: (upserts, deletes) => {
      for (const p of upserts) if (p.metadata.uid) statusManager.apiStatus(p.metadata.uid, p.status);
      d.applyChanges(
        d.podConfig.delta(
          API_SOURCE,
          upserts,
          deletes.map((p) => p.metadata.uid ?? ''),
        ),
      );
      for (const p of deletes) statusManager.forget(p.metadata.uid ?? '');
      finishDeleted(upserts);
    },
    onMirror: (ev) => {
      if (ev.type === 'set') {
        for (const p of ev.pods) statusManager.apiStatus(p.metadata.uid ?? '', p.status);
        listedMirrors = new Set(ev.pods.map((p) => p.metadata.uid ?? ''));
      } else if (ev.type === 'upsert') statusManager.apiStatus(ev.pod.metadata.uid ?? '', ev.pod.status);
      else statusManager.forget(ev.pod.metadata.uid ?? '');
      mirrorPods.mirrorEvent(ev);
    },
  });

  const services = new ServiceCache({ client, logger: log });

  let listedPods = new Set<string>();
  let listedMirrors = new Set<string>();
  /**
   * A pod deleted after its worker already terminated (it finished, then a user deleted it):
   * no new termination will run, so its final status and the delete are sent from here.
   */
  const finishDeleted = (pods: Pod[]): void => {
    for (const p of pods) {
      const uid = p.metadata.uid ?? '';
      if (p.metadata.deletionTimestamp && d.workerLifecycle(uid) === 'terminated') {
        statusManager.terminated({ namespace: p.metadata.namespace ?? 'default', name: p.metadata.name ?? '', uid }, d.workerStatus(uid));
      }
    }
  };

  const target = (pod: Pod): StatusTarget | undefined => {
    if (isApiPod(pod)) {
      const gates = (Array.isArray(pod.spec.readinessGates) ? pod.spec.readinessGates : [])
        .map((g) => (g as { conditionType?: unknown } | null)?.conditionType)
        .filter((t): t is string => typeof t === 'string' && t !== '');
      return {
        namespace: pod.metadata.namespace ?? 'default',
        name: pod.metadata.name ?? '',
        uid: pod.metadata.uid ?? '',
        ...(gates.length > 0 ? { readinessGates: gates } : {}),
      };
    }
    return mirrorPods.mirrorOf(pod);
  };

  // What the pod workers (and the probe thread) say about pods arrives on the bus.
  const onStatus = (m: MessageOf<'pod.status'>): void => {
    const pod = d.podOf(m.uid);
    if (!pod) return; // gone meanwhile: its last word was already sent
    if (!isApiPod(pod)) staticStatuses.set(m.uid, { pod, status: m.status });
    const t = target(pod);
    if (t) statusManager.setStatus(t, m.status);
  };
  const onEvent = (m: MessageOf<'pod.event'>): void => {
    // A pod refused before it had a worker (FailedValidation) is named by the message alone.
    const pod = d.podOf(m.uid);
    const t = (pod ? target(pod) : undefined) ?? { namespace: m.namespace, name: m.name, uid: m.uid };
    const init = m.container !== undefined && (pod?.spec.initContainers?.some((c) => c.name === m.container) ?? false);
    const fieldPath = m.container !== undefined ? `spec.${init ? 'initContainers' : 'containers'}{${m.container}}` : undefined;
    events.record(
      { kind: 'Pod', apiVersion: 'v1', namespace: t.namespace, name: t.name, uid: t.uid, ...(fieldPath ? { fieldPath } : {}) },
      m.eventType,
      m.reason,
      m.message,
    );
  };
  const onWorker = (m: MessageOf<'pod.worker'>): void => {
    if (m.type === 'gone') {
      staticStatuses.delete(m.uid);
      return;
    }
    // A deleted API pod's worker terminated: its final status, then the delete.
    const pod = d.podOf(m.uid);
    if (!pod || !isApiPod(pod) || !pod.metadata.deletionTimestamp) return;
    const t = target(pod);
    if (t) statusManager.terminated(t, m.status);
  };
  const unsubscribe = [
    d.bus.subscribe('pod.status', onStatus, { name: 'cluster:pod.status', capacity: 10_000, coalesce: (m) => m.uid }),
    d.bus.subscribe('pod.event', onEvent, { name: 'cluster:pod.event', capacity: 10_000 }),
    d.bus.subscribe('pod.worker', onWorker, { name: 'cluster:pod.worker', capacity: 10_000 }),
    d.bus.subscribe('node.event', (m) => events.record(nodeRef(), m.eventType, m.reason, m.message), { name: 'cluster:node.event', capacity: 1000 }),
  ];

  nodeStatus.start();
  statusManager.start();
  apiSource.start();
  services.start();
  mirrorPods.start();
  events.record(nodeRef(), 'Normal', 'Starting', 'Starting kubelet.');
  log.info({ server: client.server.origin, node: nodeName, qps: cfg.kubeAPIQPS, burst: cfg.kubeAPIBurst }, 'API server mode');

  return {
    client,
    nodeStatus,
    statusManager,
    apiSource,
    services,
    serviceEnv: async (pod) => {
      if (isApiPod(pod) && !(await services.waitSynced(SERVICE_SYNC_WAIT_MS))) throw new ServicesNotSyncedError();
      return serviceEnvFor(services.list(), pod.metadata.namespace ?? 'default', pod.spec.enableServiceLinks !== false);
    },
    mirrorPods,
    events,
    staticPodsChanged: () => {
      mirrorPods.setStatics(d.podConfig.all().filter((p) => !isApiPod(p)));
    },
    stop: () => {
      for (const off of unsubscribe) off();
      offPressure();
      apiSource.stop();
      services.stop();
      nodeStatus.stop();
      statusManager.stop();
      mirrorPods.stop();
      events.stop();
      client.close();
      eventsClient.close();
    },
  };
}

/**
 * The kubeletVersion the Node reports: the Kubernetes node API release kubelet-ts implements,
 * with kubelet-ts's own version as semver build metadata (as k3s does: v1.20.2+k3s1), so
 * components that compare kubelet versions see v1.20.2.
 */
export const KUBE_COMPAT_VERSION = '1.20.2';

export function nodeKubeletVersion(own: string): string {
  return `v${KUBE_COMPAT_VERSION}+kubelet-ts.${own}`;
}
