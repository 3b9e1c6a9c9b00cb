// The node's status in the API server: registration, the status loop, and the Lease heartbeat,
// as upstream's kubelet_node_status.go and nodelease do it.
//   register  -> POST the Node (labels, taints, status included: nodes may set status on create);
//                AlreadyExists -> GET it and patch our labels back when they differ.
//   status    -> computed every nodeStatusUpdateFrequency (10 s); PATCHed when it differs from the
//                last one written (heartbeat times ignored) or nodeStatusReportFrequency (5 min)
//                passed; a fast first write right after registration.
//   lease     -> kube-node-lease/<node>, renewed every 10 s (a quarter of the 40 s duration) with
//                optimistic concurrency; on failure retried at 200 ms doubling to 7 s.
// Every request here goes out at 'heartbeat' priority, so thousands of pending pod status writes
// never delay the signals the node controller uses to decide the node is alive.
// The computation (`computeNodeStatus`) is pure: inputs and the clock come in; this makes the
// condition and heartbeat semantics testable without a server.
import type { Logger } from 'pino';
import { ApiError, type ApiClient } from '../api/client.js';
import { apiTime, microTime, type Lease, type Node, type NodeCondition, type NodeStatus, type NodeTaint } from '../api/objects.js';
import { formatBytes, formatCpu, parseQuantity } from '../api/quantity.js';
import type { HostFacts } from '../native/node-info.js';
import { silentLogger } from '../log.js';

export const LEASE_NAMESPACE = 'kube-node-lease';

/** Labels a kubelet may set on its own Node (upstream kubeletapis.IsKubeletLabel). */
const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname',
  'kubernetes.io/os',
  'kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/arch',
  'beta.kubernetes.io/instance-type',
  'node.kubernetes.io/instance-type',
  'failure-domain.beta.kubernetes.io/region',
  'failure-domain.beta.kubernetes.io/zone',
  'topology.kubernetes.io/region',
  'topology.kubernetes.io/zone',
]);
const KUBELET_LABEL_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io'];

/** Labels in the kubernetes.io / k8s.io namespaces that a kubelet may not set (upstream refuses to start). */
export function forbiddenNodeLabels(labels: Record<string, string>): string[] {
  return Object.keys(labels).filter((k) => {
    const slash = k.indexOf('/');
    if (slash < 0) return false;
    const ns = k.slice(0, slash);
    const k8s = ns === 'kubernetes.io' || ns.endsWith('.kubernetes.io') || ns === 'k8s.io' || ns.endsWith('.k8s.io');
    if (!k8s) return false;
    if (KUBELET_LABELS.has(k)) return false;
    return !KUBELET_LABEL_NAMESPACES.some((allowed) => ns === allowed || ns.endsWith(`.${allowed}`));
  });
}

export interface NodeHealth {
  /** CRI Status said RuntimeReady. */
  runtimeReady: boolean;
  /** CRI Status said NetworkReady (message from the runtime when not). */
  networkReady: boolean;
  networkMessage?: string;
  /** Why the runtime is not ready (it did not answer, or RuntimeReady=false). */
  runtimeMessage?: string;
  /** PLEG health (unhealthy after 3 min without a relist). */
  pleg: { ok: boolean; message?: string };
  memoryPressure: boolean;
  diskPressure: boolean;
  pidPressure: boolean;
}

export interface NodeStatusInputs {
  host: HostFacts;
  nodeName: string;
  kubeletVersion: string;
  runtimeVersion: string;
  nodeIPs: string[];
  hostnameAddress: string;
  port: number;
  maxPods: number;
  systemReserved: Record<string, string>;
  kubeReserved: Record<string, string>;
  evictionHard: Record<string, string>;
  health: NodeHealth;
  images: { names: string[]; sizeBytes: number }[];
}

/** What capacity and allocatable depend on (the kubelet also reads them for resourceFieldRef defaults). */
export type AllocatableInputs = Pick<NodeStatusInputs, 'host' | 'maxPods' | 'systemReserved' | 'kubeReserved' | 'evictionHard'>;

function reserved(inputs: AllocatableInputs, resource: string): number {
  let sum = 0;
  for (const m of [inputs.systemReserved, inputs.kubeReserved]) {
    const v = m[resource];
    if (v !== undefined) sum += parseQuantity(v);
  }
  return sum;
}

/** Upstream: a hard eviction threshold of an absolute quantity (or a percentage of capacity). */
function evictionReserve(threshold: string | undefined, capacity: number): number {
  if (!threshold) return 0;
  const t = threshold.trim();
  if (t.endsWith('%')) return (Number(t.slice(0, -1)) / 100) * capacity;
  return parseQuantity(t);
}

export function capacityAndAllocatable(inputs: AllocatableInputs): { capacity: Record<string, string>; allocatable: Record<string, string> } {
  const h = inputs.host;
  const capacity = {
    cpu: formatCpu(h.cpuCores),
    'ephemeral-storage': formatBytes(h.ephemeralStorageBytes),
    'hugepages-1Gi': '0',
    'hugepages-2Mi': '0',
    memory: formatBytes(h.memoryBytes),
    pods: String(inputs.maxPods),
  };
  const allocatable = {
    cpu: formatCpu(h.cpuCores - reserved(inputs, 'cpu')),
    'ephemeral-storage': formatBytes(
      h.ephemeralStorageBytes - reserved(inputs, 'ephemeral-storage') - evictionReserve(inputs.evictionHard['nodefs.available'], h.ephemeralStorageBytes),
    ),
    'hugepages-1Gi': '0',
    'hugepages-2Mi': '0',
    memory: formatBytes(h.memoryBytes - reserved(inputs, 'memory') - evictionReserve(inputs.evictionHard['memory.available'], h.memoryBytes)),
    pods: String(inputs.maxPods),
  };
  return { capacity, allocatable };
}

function condition(
  type: string,
  isTrue: boolean,
  yes: [string, string],
  no: [string, string],
  previous: NodeCondition | undefined,
  now: string,
): NodeCondition {
  const status = isTrue ? 'True' : 'False';
  const [reason, message] = isTrue ? yes : no;
  return {
    type,
    status,
    lastHeartbeatTime: now,
    lastTransitionTime: previous && previous.status === status ? (previous.lastTransitionTime ?? now) : now,
    reason,
    message,
  };
}

/** Why the node is not Ready, in upstream's words; empty when it is. */
export function notReadyReasons(h: NodeHealth): string[] {
  const out: string[] = [];
  if (!h.runtimeReady) out.push(h.runtimeMessage ?? 'container runtime is down');
  if (!h.networkReady) out.push(`container runtime network not ready: ${h.networkMessage ?? 'NetworkReady=false'}`);
  if (!h.pleg.ok) out.push(h.pleg.message ?? 'PLEG is not healthy');
  return out;
}

export function computeNodeStatus(inputs: NodeStatusInputs, previous: NodeStatus | undefined, nowMs: number): NodeStatus {
  const now = apiTime(nowMs);
  const prev = (t: string): NodeCondition | undefined => previous?.conditions?.find((c) => c.type === t);
  const h = inputs.health;
  const notReady = notReadyReasons(h);
  const { capacity, allocatable } = capacityAndAllocatable(inputs);
  const conditions = [
    condition(
      'MemoryPressure',
      h.memoryPressure,
      ['KubeletHasInsufficientMemory', 'kubelet has insufficient memory available'],
      ['KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
      prev('MemoryPressure'),
      now,
    ),
    condition(
      'DiskPressure',
      h.diskPressure,
      ['KubeletHasDiskPressure', 'kubelet has disk pressure'],
      ['KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
      prev('DiskPressure'),
      now,
    ),
    condition(
      'PIDPressure',
      h.pidPressure,
      ['KubeletHasInsufficientPID', 'kubelet has insufficient PID available'],
      ['KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
      prev('PIDPressure'),
      now,
    ),
    condition(
      'Ready',
      notReady.length === 0,
      ['KubeletReady', 'kubelet is posting ready status'],
      ['KubeletNotReady', notReady.join(', ')],
      prev('Ready'),
      now,
    ),
  ];
  const addresses = [
    ...inputs.nodeIPs.map((ip) => ({ type: 'InternalIP' as const, address: ip })),
    { type: 'Hostname' as const, address: inputs.hostnameAddress },
  ];
  return {
    capacity,
    allocatable,
    conditions,
    addresses,
    daemonEndpoints: { kubeletEndpoint: { Port: inputs.port } },
    nodeInfo: {
      machineID: inputs.host.machineID,
      systemUUID: inputs.host.systemUUID,
      bootID: inputs.host.bootID,
      kernelVersion: inputs.host.kernelVersion,
      osImage: inputs.host.osImage,
      containerRuntimeVersion: inputs.runtimeVersion,
      kubeletVersion: inputs.kubeletVersion,
      kubeProxyVersion: inputs.kubeletVersion,
      operatingSystem: inputs.host.operatingSystem,
      architecture: inputs.host.architecture,
    },
    // Upstream reports at most 50 images, largest first.
    images: [...inputs.images]
      .sort((a, b) => b.sizeBytes - a.sizeBytes)
      .slice(0, 50)
      .map((i) => ({ names: i.names, sizeBytes: i.sizeBytes })),
  };
}

/** True when the status differs from the last one written, heartbeat times aside (upstream nodeStatusHasChanged). */
export function nodeStatusChanged(a: NodeStatus | undefined, b: NodeStatus): boolean {
  if (!a) return true;
  const strip = (s: NodeStatus): unknown => ({ ...s, conditions: (s.conditions ?? []).map((c) => ({ ...c, lastHeartbeatTime: undefined })) });
  return JSON.stringify(strip(a)) !== JSON.stringify(strip(b));
}

export function defaultNodeLabels(nodeName: string, host: HostFacts, extra: Record<string, string>): Record<string, string> {
  return {
    'beta.kubernetes.io/arch': host.architecture,
    'beta.kubernetes.io/os': host.operatingSystem,
    'kubernetes.io/arch': host.architecture,
    'kubernetes.io/hostname': nodeName,
    'kubernetes.io/os': host.operatingSystem,
    ...extra,
  };
}

export interface NodeStatusManagerOptions {
  client: ApiClient;
  nodeName: string;
  register: boolean;
  labels: Record<string, string>;
  taints: NodeTaint[];
  updateEveryMs: number;
  reportEveryMs: number;
  leaseDurationSeconds: number;
  /** Fresh inputs for one computation (health, images, ...). */
  inputs: () => Promise<NodeStatusInputs>;
  logger?: Logger;
  now?: () => number;
  /** Called on Ready transitions (events NodeReady / NodeNotReady). */
  onReadyChange?: (ready: boolean, message: string) => void;
}

/**
 * The node status and lease loops. `start()` registers (retrying with backoff until it works),
 * then runs both loops until `stop()`. Failures are logged and retried; nothing throws out.
 */
export class NodeStatusManager {
  private readonly log: Logger;
  private readonly now: () => number;
  private node: Node | undefined;
  private lastWritten: NodeStatus | undefined;
  private lastWriteAt = 0;
  private lease: Lease | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private leaseBackoffMs = 0;
  private statusRunning = false;
  /**
   * A heartbeat failed since the last status write: the node controller may have marked the
   * node Unknown (Ready=Unknown, unreachable taint) meanwhile, so the next round writes the
   * status even if ours did not change, instead of waiting for the 5-minute report.
   */
  private heartbeatTrouble = false;
  registered = false;
  /** Stats for tests and metrics. */
  readonly stats = { statusWrites: 0, statusErrors: 0, leaseRenewals: 0, leaseErrors: 0 };
  lastLeaseRenewAt = 0;

  constructor(private readonly opts: NodeStatusManagerOptions) {
    this.log = (opts.logger ?? silentLogger).child({ actor: 'node-status' });
    this.now = opts.now ?? Date.now;
  }

  /** The Node as last seen or written. */
  get current(): Node | undefined {
    return this.node;
  }

  start(): void {
    void this.registerLoop();
  }

  stop(): void {
    this.stopped = true;
    if (this.statusTimer) clearTimeout(this.statusTimer);
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
  }

  private async registerLoop(): Promise<void> {
    let backoff = 100;
    while (!this.stopped) {
      try {
        await this.registerOnce();
        this.registered = true;
        this.log.info({ node: this.opts.nodeName }, 'node registered');
        break;
      } catch (err) {
        this.log.warn({ err: (err as Error).message, retryInMs: backoff }, 'node registration failed; retrying');
        await new Promise((r) => setTimeout(r, backoff).unref());
        backoff = Math.min(7000, backoff * 2);
      }
    }
    if (this.stopped) return;
    void this.renewLease();
    await this.updateStatus(true);
  }

  private async registerOnce(): Promise<void> {
    const inputs = await this.opts.inputs();
    const status = computeNodeStatus(inputs, undefined, this.now());
    const path = `/api/v1/nodes/${encodeURIComponent(this.opts.nodeName)}`;
    if (!this.opts.register) {
      this.node = await this.opts.client.get<Node>(path, undefined, 'heartbeat');
      return;
    }
    const node: Node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: this.opts.nodeName, labels: this.opts.labels, annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' } },
      spec: this.opts.taints.length > 0 ? { taints: this.opts.taints } : {},
      status,
    };
    try {
      this.node = await this.opts.client.post<Node>('/api/v1/nodes', node, 'heartbeat');
      this.lastWritten = this.node.status;
      this.lastWriteAt = this.now();
      this.stats.statusWrites++;
      return;
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 'KTS_API_ALREADY_EXISTS') throw err;
    }
    // Already registered (a restart): keep it, put our labels back when they drifted.
    const existing = await this.opts.client.get<Node>(path, undefined, 'heartbeat');
    const drift = Object.entries(this.opts.labels).filter(([k, v]) => existing.metadata.labels?.[k] !== v);
    this.node = existing;
    this.lastWritten = existing.status;
    if (drift.length > 0) {
      this.node = await this.opts.client.patch<Node>(path, { metadata: { labels: Object.fromEntries(drift) } }, 'strategic', 'heartbeat');
    }
  }

  private scheduleStatus(ms: number): void {
    if (this.stopped) return;
    this.statusTimer = setTimeout(() => void this.updateStatus(false), ms);
    this.statusTimer.unref();
  }

  /** One round of the status loop; `force` writes even without a change. */
  async updateStatus(force: boolean): Promise<void> {
    if (this.statusRunning || this.stopped) return;
    this.statusRunning = true;
    try {
      const inputs = await this.opts.inputs();
      const status = computeNodeStatus(inputs, this.lastWritten, this.now());
      const due = this.now() - this.lastWriteAt >= this.opts.reportEveryMs;
      if (force || due || this.heartbeatTrouble || nodeStatusChanged(this.lastWritten, status)) {
        const wasReady = this.lastWritten?.conditions?.find((c) => c.type === 'Ready');
        const path = `/api/v1/nodes/${encodeURIComponent(this.opts.nodeName)}/status`;
        this.node = await this.opts.client.patch<Node>(path, { status }, 'strategic', 'heartbeat');
        this.lastWritten = status;
        this.lastWriteAt = this.now();
        this.stats.statusWrites++;
        this.heartbeatTrouble = false;
        const ready = status.conditions?.find((c) => c.type === 'Ready');
        if (ready && ready.status !== wasReady?.status) {
          this.log.info({ ready: ready.status, message: ready.message }, 'node readiness changed');
          this.opts.onReadyChange?.(ready.status === 'True', ready.message ?? '');
        }
      }
    } catch (err) {
      this.stats.statusErrors++;
      this.heartbeatTrouble = true;
      this.log.warn({ err: (err as Error).message }, 'node status update failed; next round retries');
    } finally {
      this.statusRunning = false;
      this.scheduleStatus(this.opts.updateEveryMs);
    }
  }

  private leasePath(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases/${encodeURIComponent(this.opts.nodeName)}`;
  }

  private async renewLease(): Promise<void> {
    if (this.stopped) return;
    const renewEvery = Math.round((this.opts.leaseDurationSeconds * 1000) / 4);
    try {
      const now = microTime(this.now());
      const owner = this.node?.metadata.uid ? [{ apiVersion: 'v1', kind: 'Node', name: this.opts.nodeName, uid: this.node.metadata.uid }] : undefined;
      if (!this.lease) {
        try {
          this.lease = await this.opts.client.get<Lease>(this.leasePath(), undefined, 'heartbeat');
        } catch (err) {
          if (!(err instanceof ApiError) || err.code !== 'KTS_API_NOT_FOUND') throw err;
          const fresh: Lease = {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.opts.nodeName, namespace: LEASE_NAMESPACE, ...(owner ? { ownerReferences: owner } : {}) },
            spec: { holderIdentity: this.opts.nodeName, leaseDurationSeconds: this.opts.leaseDurationSeconds, renewTime: now },
          };
          this.lease = await this.opts.client.post<Lease>(`/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases`, fresh, 'heartbeat');
          this.onRenewed();
          this.leaseTimer = setTimeout(() => void this.renewLease(), renewEvery);
          this.leaseTimer.unref();
          return;
        }
      }
      const next: Lease = {
        ...this.lease,
        metadata: { ...this.lease.metadata, ...(owner && !this.lease.metadata.ownerReferences?.length ? { ownerReferences: owner } : {}) },
        spec: { ...this.lease.spec, holderIdentity: this.opts.nodeName, leaseDurationSeconds: this.opts.leaseDurationSeconds, renewTime: now },
      };
      try {
        this.lease = await this.opts.client.put<Lease>(this.leasePath(), next, 'heartbeat');
      } catch (err) {
        // Someone else wrote it (or it was deleted): read it again on the next try.
        if (err instanceof ApiError && (err.code === 'KTS_API_CONFLICT' || err.code === 'KTS_API_NOT_FOUND')) this.lease = undefined;
        throw err;
      }
      this.onRenewed();
      this.leaseTimer = setTimeout(() => void this.renewLease(), renewEvery);
    } catch (err) {
      this.stats.leaseErrors++;
      this.heartbeatTrouble = true;
      this.leaseBackoffMs = this.leaseBackoffMs === 0 ? 200 : Math.min(7000, this.leaseBackoffMs * 2);
      this.log.warn({ err: (err as Error).message, retryInMs: this.leaseBackoffMs }, 'lease renewal failed');
      this.leaseTimer = setTimeout(() => void this.renewLease(), this.leaseBackoffMs);
    }
    this.leaseTimer.unref();
  }

  private onRenewed(): void {
    this.stats.leaseRenewals++;
    this.leaseBackoffMs = 0;
    this.lastLeaseRenewAt = this.now();
  }
}
