// The kubelet's configuration: the upstream `KubeletConfiguration` file
// (kubelet.config.k8s.io/v1beta1) and the upstream command-line flags, merged as the Go kubelet
// merges them (defaults, then the file, then flags), validated with every problem reported by
// its name. One table below describes every setting once: its file field, its flag, its kind, its
// default and its limits; the loader, the flag parser, /configz and the errors all read it.
//
// Durations are Go duration text in the file and in flags ("1m0s") and milliseconds inside.
// Settings that upstream keeps as flags only (--kubeconfig, --hostname-override, --node-ip,
// --root-dir, ...) live under the same object with `file: false`.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseAllDocuments } from 'yaml';
import { formatDuration, parseDuration } from './duration.js';
import { parseEvictionSettings } from '../eviction/thresholds.js';

export const CONFIG_API_VERSION = 'kubelet.config.k8s.io/v1beta1';
export const CONFIG_KIND = 'KubeletConfiguration';

type Kind = 'string' | 'bool' | 'int' | 'number' | 'duration' | 'stringList' | 'stringMap' | 'taints';

interface Setting {
  /** Dotted path in the KubeletConfiguration file; null for flag-only settings. */
  file: string | null;
  flag?: string;
  kind: Kind;
  default: unknown;
  min?: number;
  max?: number;
  oneOf?: readonly string[];
  help: string;
}

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

/** The merged configuration (durations in ms). Field names follow the upstream file. */
export interface KubeletConfig {
  staticPodPath: string;
  staticPodURL: string;
  staticPodURLHeader: Record<string, string>;
  syncFrequency: number;
  fileCheckFrequency: number;
  httpCheckFrequency: number;
  address: string;
  port: number;
  readOnlyPort: number;
  healthzPort: number;
  healthzBindAddress: string;
  tlsCertFile: string;
  tlsPrivateKeyFile: string;
  authentication: {
    x509: { clientCAFile: string };
    webhook: { enabled: boolean; cacheTTL: number };
    anonymous: { enabled: boolean };
  };
  authorization: {
    mode: 'AlwaysAllow' | 'Webhook';
    webhook: { cacheAuthorizedTTL: number; cacheUnauthorizedTTL: number };
  };
  registryPullQPS: number;
  registryBurst: number;
  eventRecordQPS: number;
  eventBurst: number;
  enableDebuggingHandlers: boolean;
  clusterDomain: string;
  clusterDNS: string[];
  streamingConnectionIdleTimeout: number;
  nodeStatusUpdateFrequency: number;
  nodeStatusReportFrequency: number;
  nodeLeaseDurationSeconds: number;
  imageMinimumGCAge: number;
  imageGCHighThresholdPercent: number;
  imageGCLowThresholdPercent: number;
  cgroupsPerQOS: boolean;
  cgroupDriver: 'cgroupfs' | 'systemd';
  cgroupRoot: string;
  runtimeRequestTimeout: number;
  maxPods: number;
  podLogsDir: string;
  podPidsLimit: number;
  resolvConf: string;
  kubeAPIQPS: number;
  kubeAPIBurst: number;
  serializeImagePulls: boolean;
  evictionHard: Record<string, string>;
  evictionSoft: Record<string, string>;
  evictionSoftGracePeriod: Record<string, string>;
  evictionMinimumReclaim: Record<string, string>;
  evictionMaxPodGracePeriod: number;
  evictionPressureTransitionPeriod: number;
  systemReserved: Record<string, string>;
  kubeReserved: Record<string, string>;
  enforceNodeAllocatable: string[];
  containerLogMaxSize: string;
  containerLogMaxFiles: number;
  registerNode: boolean;
  registerWithTaints: Taint[];
  failSwapOn: boolean;
  containerRuntimeEndpoint: string;
  imageServiceEndpoint: string;
  shutdownGracePeriod: number;
  // Flag-only settings, as upstream.
  config: string;
  kubeconfig: string;
  hostnameOverride: string;
  nodeIP: string;
  rootDir: string;
  certDir: string;
  nodeLabels: Record<string, string>;
  podInfraContainerImage: string;
  maxDeadContainersPerContainer: number;
  housekeepingInterval: number;
  // kubelet-ts's own settings (file section `kubeletTS`).
  kubeletTS: {
    embeddedRuntime: 'containerd' | 'sim';
    crashLoopBackOffInitial: number;
    crashLoopBackOffMax: number;
    maxConcurrentSyncs: number;
    containerGcPeriod: number;
    eventedPleg: boolean;
  };
}

const DEFAULT_EVICTION_HARD = {
  'memory.available': '100Mi',
  'nodefs.available': '10%',
  'nodefs.inodesFree': '5%',
  'imagefs.available': '15%',
};

/** Every setting, once. Order is the order of /configz and of `--help`. */
export const SETTINGS: Readonly<Record<string, Setting>> = {
  staticPodPath: { file: 'staticPodPath', flag: 'pod-manifest-path', kind: 'string', default: '', help: 'folder (or file) of static pod manifests' },
  staticPodURL: { file: 'staticPodURL', flag: 'manifest-url', kind: 'string', default: '', help: 'URL of static pod manifests, polled' },
  staticPodURLHeader: {
    file: 'staticPodURLHeader',
    flag: 'manifest-url-header',
    kind: 'stringMap',
    default: {},
    help: 'HTTP headers for --manifest-url (key:value,...)',
  },
  syncFrequency: { file: 'syncFrequency', flag: 'sync-frequency', kind: 'duration', default: 60_000, min: 1, help: 'max period between syncs of one pod' },
  fileCheckFrequency: {
    file: 'fileCheckFrequency',
    flag: 'file-check-frequency',
    kind: 'duration',
    default: 20_000,
    min: 1,
    help: 'full recheck of the static pod folder',
  },
  httpCheckFrequency: {
    file: 'httpCheckFrequency',
    flag: 'http-check-frequency',
    kind: 'duration',
    default: 20_000,
    min: 1,
    help: 'poll period of --manifest-url',
  },
  address: { file: 'address', flag: 'address', kind: 'string', default: '0.0.0.0', help: 'address of the kubelet HTTPS server' },
  port: { file: 'port', flag: 'port', kind: 'int', default: 10250, min: 1, max: 65535, help: 'port of the kubelet HTTPS server' },
  readOnlyPort: { file: 'readOnlyPort', flag: 'read-only-port', kind: 'int', default: 0, min: 0, max: 65535, help: 'read-only HTTP port (0 disables)' },
  healthzPort: { file: 'healthzPort', flag: 'healthz-port', kind: 'int', default: 10248, min: 0, max: 65535, help: 'port of /healthz (0 disables)' },
  healthzBindAddress: { file: 'healthzBindAddress', flag: 'healthz-bind-address', kind: 'string', default: '127.0.0.1', help: 'address of /healthz' },
  tlsCertFile: { file: 'tlsCertFile', flag: 'tls-cert-file', kind: 'string', default: '', help: 'serving certificate (self-signed in --cert-dir when empty)' },
  tlsPrivateKeyFile: { file: 'tlsPrivateKeyFile', flag: 'tls-private-key-file', kind: 'string', default: '', help: 'serving key' },
  'authentication.x509.clientCAFile': {
    file: 'authentication.x509.clientCAFile',
    flag: 'client-ca-file',
    kind: 'string',
    default: '',
    help: 'CA bundle that client certificates must chain to',
  },
  'authentication.webhook.enabled': {
    file: 'authentication.webhook.enabled',
    flag: 'authentication-token-webhook',
    kind: 'bool',
    default: true,
    help: 'bearer tokens through TokenReview',
  },
  'authentication.webhook.cacheTTL': {
    file: 'authentication.webhook.cacheTTL',
    flag: 'authentication-token-webhook-cache-ttl',
    kind: 'duration',
    default: 120_000,
    min: 0,
    help: 'cache of TokenReview answers',
  },
  'authentication.anonymous.enabled': {
    file: 'authentication.anonymous.enabled',
    flag: 'anonymous-auth',
    kind: 'bool',
    default: false,
    help: 'let unauthenticated requests in as system:anonymous',
  },
  'authorization.mode': {
    file: 'authorization.mode',
    flag: 'authorization-mode',
    kind: 'string',
    default: 'Webhook',
    oneOf: ['AlwaysAllow', 'Webhook'],
    help: 'AlwaysAllow or Webhook (SubjectAccessReview)',
  },
  'authorization.webhook.cacheAuthorizedTTL': {
    file: 'authorization.webhook.cacheAuthorizedTTL',
    flag: 'authorization-webhook-cache-authorized-ttl',
    kind: 'duration',
    default: 300_000,
    min: 0,
    help: 'cache of allowed SubjectAccessReviews',
  },
  'authorization.webhook.cacheUnauthorizedTTL': {
    file: 'authorization.webhook.cacheUnauthorizedTTL',
    flag: 'authorization-webhook-cache-unauthorized-ttl',
    kind: 'duration',
    default: 30_000,
    min: 0,
    help: 'cache of denied SubjectAccessReviews',
  },
  registryPullQPS: { file: 'registryPullQPS', flag: 'registry-qps', kind: 'number', default: 5, min: 0, help: 'image pulls per second (0: unlimited)' },
  registryBurst: { file: 'registryBurst', flag: 'registry-burst', kind: 'int', default: 10, min: 0, help: 'image pull burst' },
  eventRecordQPS: { file: 'eventRecordQPS', flag: 'event-qps', kind: 'number', default: 50, min: 0, help: 'events per second (0: unlimited)' },
  eventBurst: { file: 'eventBurst', flag: 'event-burst', kind: 'int', default: 100, min: 0, help: 'event burst' },
  enableDebuggingHandlers: {
    file: 'enableDebuggingHandlers',
    flag: 'enable-debugging-handlers',
    kind: 'bool',
    default: true,
    help: 'serve logs, exec, attach, port-forward',
  },
  clusterDomain: { file: 'clusterDomain', flag: 'cluster-domain', kind: 'string', default: '', help: 'cluster DNS domain' },
  clusterDNS: { file: 'clusterDNS', flag: 'cluster-dns', kind: 'stringList', default: [], help: 'DNS server IPs for pods' },
  streamingConnectionIdleTimeout: {
    file: 'streamingConnectionIdleTimeout',
    flag: 'streaming-connection-idle-timeout',
    kind: 'duration',
    default: 4 * 3_600_000,
    min: 0,
    help: 'idle timeout of exec/attach/port-forward streams',
  },
  nodeStatusUpdateFrequency: {
    file: 'nodeStatusUpdateFrequency',
    flag: 'node-status-update-frequency',
    kind: 'duration',
    default: 10_000,
    min: 1,
    help: 'node status computation period',
  },
  nodeStatusReportFrequency: {
    file: 'nodeStatusReportFrequency',
    kind: 'duration',
    default: 300_000,
    min: 1,
    help: 'node status write period when nothing changed',
  },
  nodeLeaseDurationSeconds: { file: 'nodeLeaseDurationSeconds', kind: 'int', default: 40, min: 1, help: 'node Lease duration' },
  imageMinimumGCAge: {
    file: 'imageMinimumGCAge',
    flag: 'minimum-image-ttl-duration',
    kind: 'duration',
    default: 120_000,
    min: 0,
    help: 'minimum age of an unused image before GC',
  },
  imageGCHighThresholdPercent: {
    file: 'imageGCHighThresholdPercent',
    flag: 'image-gc-high-threshold',
    kind: 'int',
    default: 85,
    min: 0,
    max: 100,
    help: 'disk use that starts image GC',
  },
  imageGCLowThresholdPercent: {
    file: 'imageGCLowThresholdPercent',
    flag: 'image-gc-low-threshold',
    kind: 'int',
    default: 80,
    min: 0,
    max: 100,
    help: 'disk use image GC frees down to',
  },
  cgroupsPerQOS: { file: 'cgroupsPerQOS', flag: 'cgroups-per-qos', kind: 'bool', default: true, help: 'QoS cgroup hierarchy' },
  cgroupDriver: {
    file: 'cgroupDriver',
    flag: 'cgroup-driver',
    kind: 'string',
    default: 'cgroupfs',
    oneOf: ['cgroupfs', 'systemd'],
    help: 'cgroupfs or systemd',
  },
  cgroupRoot: { file: 'cgroupRoot', flag: 'cgroup-root', kind: 'string', default: '', help: 'root cgroup for pods' },
  runtimeRequestTimeout: {
    file: 'runtimeRequestTimeout',
    flag: 'runtime-request-timeout',
    kind: 'duration',
    default: 120_000,
    min: 1,
    help: 'deadline of CRI calls (not pulls)',
  },
  maxPods: { file: 'maxPods', flag: 'max-pods', kind: 'int', default: 110, min: 1, help: 'pods this node runs at most' },
  // Upstream has the file field only; the flag is kubelet-ts's (tests and benches point it at a temporary folder).
  podLogsDir: { file: 'podLogsDir', flag: 'pod-logs-dir', kind: 'string', default: '/var/log/pods', help: 'folder of the pod log folders (<ns>_<name>_<uid>)' },
  podPidsLimit: { file: 'podPidsLimit', flag: 'pod-max-pids', kind: 'int', default: -1, min: -1, help: 'PIDs per pod (-1: unlimited)' },
  resolvConf: { file: 'resolvConf', flag: 'resolv-conf', kind: 'string', default: '/etc/resolv.conf', help: 'resolver configuration pods inherit' },
  kubeAPIQPS: { file: 'kubeAPIQPS', flag: 'kube-api-qps', kind: 'number', default: 50, min: 0, help: 'API server requests per second' },
  kubeAPIBurst: { file: 'kubeAPIBurst', flag: 'kube-api-burst', kind: 'int', default: 100, min: 0, help: 'API server request burst' },
  serializeImagePulls: { file: 'serializeImagePulls', flag: 'serialize-image-pulls', kind: 'bool', default: true, help: 'one image pull at a time' },
  evictionHard: {
    file: 'evictionHard',
    flag: 'eviction-hard',
    kind: 'stringMap',
    default: DEFAULT_EVICTION_HARD,
    help: 'hard eviction thresholds (signal<quantity,...)',
  },
  evictionSoft: { file: 'evictionSoft', flag: 'eviction-soft', kind: 'stringMap', default: {}, help: 'soft eviction thresholds (signal<quantity,...)' },
  evictionSoftGracePeriod: {
    file: 'evictionSoftGracePeriod',
    flag: 'eviction-soft-grace-period',
    kind: 'stringMap',
    default: {},
    help: 'how long each soft threshold must hold before a pod is evicted (signal=1m30s,...)',
  },
  evictionMinimumReclaim: {
    file: 'evictionMinimumReclaim',
    flag: 'eviction-minimum-reclaim',
    kind: 'stringMap',
    default: {},
    help: 'how far past its threshold a signal must recover before pressure ends (signal=500Mi,...)',
  },
  evictionMaxPodGracePeriod: {
    file: 'evictionMaxPodGracePeriod',
    flag: 'eviction-max-pod-grace-period',
    kind: 'int',
    default: 0,
    min: 0,
    help: "upper bound of the grace period, in seconds, of a pod evicted for a soft threshold (0: the pod's own)",
  },
  evictionPressureTransitionPeriod: {
    file: 'evictionPressureTransitionPeriod',
    flag: 'eviction-pressure-transition-period',
    kind: 'duration',
    default: 300_000,
    min: 0,
    help: 'how long a pressure condition holds',
  },
  systemReserved: {
    file: 'systemReserved',
    flag: 'system-reserved',
    kind: 'stringMap',
    default: {},
    help: 'resources reserved for the system (cpu=,memory=,...)',
  },
  kubeReserved: { file: 'kubeReserved', flag: 'kube-reserved', kind: 'stringMap', default: {}, help: 'resources reserved for Kubernetes daemons' },
  enforceNodeAllocatable: {
    file: 'enforceNodeAllocatable',
    flag: 'enforce-node-allocatable',
    kind: 'stringList',
    default: ['pods'],
    help: 'levels that enforce allocatable',
  },
  containerLogMaxSize: {
    file: 'containerLogMaxSize',
    flag: 'container-log-max-size',
    kind: 'string',
    default: '10Mi',
    help: 'container log size before rotation',
  },
  containerLogMaxFiles: { file: 'containerLogMaxFiles', flag: 'container-log-max-files', kind: 'int', default: 5, min: 2, help: 'container log files kept' },
  registerNode: { file: 'registerNode', flag: 'register-node', kind: 'bool', default: true, help: 'register the Node with the API server' },
  registerWithTaints: {
    file: 'registerWithTaints',
    flag: 'register-with-taints',
    kind: 'taints',
    default: [],
    help: 'taints of the registered Node (key=value:Effect,...)',
  },
  failSwapOn: { file: 'failSwapOn', flag: 'fail-swap-on', kind: 'bool', default: true, help: 'refuse to start when swap is on' },
  containerRuntimeEndpoint: {
    file: 'containerRuntimeEndpoint',
    flag: 'container-runtime-endpoint',
    kind: 'string',
    default: '',
    help: 'CRI endpoint (unix:///...); empty: the embedded runtime',
  },
  imageServiceEndpoint: {
    file: 'imageServiceEndpoint',
    flag: 'image-service-endpoint',
    kind: 'string',
    default: '',
    help: 'CRI image endpoint when it differs',
  },
  shutdownGracePeriod: { file: 'shutdownGracePeriod', kind: 'duration', default: 0, min: 0, help: 'node shutdown grace period' },
  config: { file: null, flag: 'config', kind: 'string', default: '', help: 'KubeletConfiguration file' },
  kubeconfig: { file: null, flag: 'kubeconfig', kind: 'string', default: '', help: 'kubeconfig of the API server (empty: standalone)' },
  hostnameOverride: { file: null, flag: 'hostname-override', kind: 'string', default: '', help: 'node name instead of the hostname' },
  nodeIP: { file: null, flag: 'node-ip', kind: 'string', default: '', help: 'node address(es) reported to the API server' },
  rootDir: { file: null, flag: 'root-dir', kind: 'string', default: '/var/lib/kubelet', help: 'kubelet state folder' },
  certDir: { file: null, flag: 'cert-dir', kind: 'string', default: '/var/lib/kubelet/pki', help: 'where the self-signed serving certificate goes' },
  nodeLabels: { file: null, flag: 'node-labels', kind: 'stringMap', default: {}, help: 'labels of the registered Node (k=v,...)' },
  podInfraContainerImage: {
    file: null,
    flag: 'pod-infra-container-image',
    kind: 'string',
    default: 'registry.k8s.io/pause:3.9',
    help: 'sandbox (pause) image',
  },
  housekeepingInterval: {
    file: null,
    flag: 'housekeeping-interval',
    kind: 'duration',
    default: 10_000,
    min: 1000,
    help: 'how often node and pod stats are read and the eviction thresholds checked',
  },
  maxDeadContainersPerContainer: {
    file: null,
    flag: 'maximum-dead-containers-per-container',
    kind: 'int',
    default: 1,
    min: 0,
    help: 'dead containers kept per pod container (container GC)',
  },
  'kubeletTS.containerGcPeriod': {
    file: 'kubeletTS.containerGcPeriod',
    flag: 'container-gc-period',
    kind: 'duration',
    default: 60_000,
    min: 1000,
    help: 'period of dead container and sandbox garbage collection',
  },
  'kubeletTS.embeddedRuntime': {
    file: 'kubeletTS.embeddedRuntime',
    flag: 'embedded-runtime',
    kind: 'string',
    default: 'containerd',
    oneOf: ['containerd', 'sim'],
    help: 'runtime used without --container-runtime-endpoint',
  },
  'kubeletTS.crashLoopBackOffInitial': {
    file: 'kubeletTS.crashLoopBackOffInitial',
    flag: 'crash-loop-backoff-initial',
    kind: 'duration',
    default: 10_000,
    min: 0,
    help: 'first CrashLoopBackOff delay',
  },
  'kubeletTS.crashLoopBackOffMax': {
    file: 'kubeletTS.crashLoopBackOffMax',
    flag: 'crash-loop-backoff-max',
    kind: 'duration',
    default: 300_000,
    min: 0,
    help: 'CrashLoopBackOff cap',
  },
  'kubeletTS.maxConcurrentSyncs': {
    file: 'kubeletTS.maxConcurrentSyncs',
    flag: 'max-concurrent-syncs',
    kind: 'int',
    default: 4,
    min: 1,
    help: 'pod syncs running CRI work at once (4: measured best on 2 cores, see README)',
  },
  'kubeletTS.eventedPleg': {
    file: 'kubeletTS.eventedPleg',
    flag: 'evented-pleg',
    kind: 'bool',
    default: true,
    help: "follow the runtime's GetContainerEvents stream, relisting every 5m as a safety net; runtimes without it (containerd 1.6) are relisted every 1s",
  },
};

/** Fields of the upstream file that kubelet-ts accepts and ignores (with a log line from the caller). */
const ACCEPTED_UNUSED = new Set([
  'apiVersion',
  'kind',
  'rotateCertificates',
  'serverTLSBootstrap',
  'tlsCipherSuites',
  'tlsMinVersion',
  'oomScoreAdj',
  'hairpinMode',
  'cpuManagerPolicy',
  'cpuManagerReconcilePeriod',
  'topologyManagerPolicy',
  'volumeStatsAggPeriod',
  'cpuCFSQuota',
  'cpuCFSQuotaPeriod',
  'maxOpenFiles',
  'contentType',
  'makeIPTablesUtilChains',
  'iptablesMasqueradeBit',
  'iptablesDropBit',
  'featureGates',
  'logging',
  'configMapAndSecretChangeDetectionStrategy',
  'enableControllerAttachDetach',
  'volumePluginDir',
  'providerID',
  'kernelMemcgNotification',
  'protectKernelDefaults',
  'enableServer',
  'enableProfilingHandlers',
  'enableContentionProfiling',
  'nodeStatusMaxImages',
  'podsPerCore',
  'shutdownGracePeriodCriticalPods',
  'memorySwap',
  'systemReservedCgroup',
  'kubeReservedCgroup',
  'systemCgroups',
  'kubeletCgroups',
  'allowedUnsafeSysctls',
  'topologyManagerScope',
  'reservedSystemCPUs',
  'showHiddenMetricsForVersion',
  'memoryManagerPolicy',
  'seccompDefault',
  'localStorageCapacityIsolation',
]);

export class KubeletConfigError extends Error {
  readonly code = 'KTS_CONFIG_INVALID';
  constructor(readonly problems: readonly string[]) {
    super(`invalid kubelet configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'KubeletConfigError';
  }
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    const next = cur[p];
    if (typeof next !== 'object' || next === null) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1] ?? ''] = value;
}

function getPath(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const p of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

export function defaultKubeletConfig(): KubeletConfig {
  const out: Record<string, unknown> = {};
  for (const [path, s] of Object.entries(SETTINGS)) setPath(out, path, clone(s.default));
  return out as unknown as KubeletConfig;
}

const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

function parseTaint(text: string): Taint {
  const m = /^([^=:]+)(?:=([^:]*))?:(.+)$/.exec(text.trim());
  if (!m) throw new Error(`invalid taint "${text}": expected key=value:Effect`);
  const effect = m[3] as Taint['effect'];
  if (!TAINT_EFFECTS.includes(effect)) throw new Error(`invalid taint effect "${m[3]}": one of ${TAINT_EFFECTS.join(', ')}`);
  return m[2] === undefined ? { key: m[1] ?? '', effect } : { key: m[1] ?? '', value: m[2], effect };
}

/** Converts one value (from the file, or flag text when `fromFlag`) to its kind, or throws why not. */
function convert(s: Setting, raw: unknown, fromFlag: boolean): unknown {
  const text = typeof raw === 'string' ? raw : undefined;
  switch (s.kind) {
    case 'string':
      if (typeof raw !== 'string') throw new Error(`expected a string, got ${JSON.stringify(raw)}`);
      if (s.oneOf && !s.oneOf.includes(raw)) throw new Error(`"${raw}" is not one of ${s.oneOf.join(', ')}`);
      return raw;
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (fromFlag && (text === 'true' || text === 'false')) return text === 'true';
      throw new Error(`expected true or false, got ${JSON.stringify(raw)}`);
    case 'int':
    case 'number': {
      const n = typeof raw === 'number' ? raw : fromFlag && text !== undefined && text.trim() !== '' ? Number(text) : NaN;
      if (!Number.isFinite(n) || (s.kind === 'int' && !Number.isInteger(n))) {
        throw new Error(`expected ${s.kind === 'int' ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}`);
      }
      if (s.min !== undefined && n < s.min) throw new Error(`${n} is below the minimum ${s.min}`);
      if (s.max !== undefined && n > s.max) throw new Error(`${n} is above the maximum ${s.max}`);
      return n;
    }
    case 'duration': {
      if (typeof raw !== 'string') throw new Error(`expected a duration such as "1m0s", got ${JSON.stringify(raw)}`);
      const ms = parseDuration(raw);
      if (s.min !== undefined && ms < s.min) throw new Error(`${raw} is below the minimum ${formatDuration(s.min)}`);
      return ms;
    }
    case 'stringList':
      if (fromFlag && text !== undefined)
        return text
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x.length > 0);
      if (!Array.isArray(raw) || raw.some((x) => typeof x !== 'string')) throw new Error(`expected a list of strings, got ${JSON.stringify(raw)}`);
      return [...(raw as string[])];
    case 'stringMap': {
      if (fromFlag && text !== undefined) {
        const out: Record<string, string> = {};
        for (const pair of text
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x.length > 0)) {
          // eviction flags write `memory.available<100Mi`; the others key=value (or key:value for headers).
          const m = /^([^=<:]+)[=<:](.*)$/.exec(pair);
          if (!m) throw new Error(`"${pair}" is not key=value`);
          out[(m[1] ?? '').trim()] = (m[2] ?? '').trim();
        }
        return out;
      }
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`expected a map of strings, got ${JSON.stringify(raw)}`);
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v === 'string') out[k] = v;
        else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out[k] = v.join(',');
        else throw new Error(`value of "${k}" must be a string, got ${JSON.stringify(v)}`);
      }
      return out;
    }
    case 'taints': {
      if (fromFlag && text !== undefined)
        return text
          .split(',')
          .filter((x) => x.trim().length > 0)
          .map(parseTaint);
      if (!Array.isArray(raw)) throw new Error(`expected a list of taints, got ${JSON.stringify(raw)}`);
      return raw.map((t: unknown) => {
        const o = t as { key?: unknown; value?: unknown; effect?: unknown };
        if (typeof o?.key !== 'string' || typeof o.effect !== 'string') throw new Error(`a taint needs key and effect, got ${JSON.stringify(t)}`);
        return parseTaint(`${o.key}${typeof o.value === 'string' ? `=${o.value}` : ''}:${o.effect}`);
      });
    }
  }
}

/** Paths of every leaf in a parsed file object, for the unknown-field check. */
function leaves(obj: unknown, prefix: string, out: string[]): void {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    out.push(prefix);
    return;
  }
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    const setting = SETTINGS[path];
    if (setting || ACCEPTED_UNUSED.has(path)) out.push(path);
    else leaves(v, path, out);
  }
}

export interface LoadResult {
  config: KubeletConfig;
  /** What the caller should log: accepted fields kubelet-ts does not act on, risky choices. */
  warnings: string[];
}

/** Applies a parsed KubeletConfiguration document onto `config`, collecting problems. */
export function applyConfigFile(config: KubeletConfig, doc: unknown, source: string, problems: string[], warnings: string[]): void {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    problems.push(`${source}: expected a KubeletConfiguration object`);
    return;
  }
  const d = doc as Record<string, unknown>;
  if (d['kind'] !== CONFIG_KIND) problems.push(`${source}: kind must be ${CONFIG_KIND}, not ${JSON.stringify(d['kind'])}`);
  if (d['apiVersion'] !== CONFIG_API_VERSION) problems.push(`${source}: apiVersion must be ${CONFIG_API_VERSION}, not ${JSON.stringify(d['apiVersion'])}`);
  const paths: string[] = [];
  leaves(d, '', paths);
  const byFile = new Map(
    Object.entries(SETTINGS)
      .filter(([, s]) => s.file !== null)
      .map(([path, s]) => [s.file ?? '', { path, s }]),
  );
  for (const p of paths) {
    const hit = byFile.get(p);
    if (hit) {
      try {
        setPath(config as unknown as Record<string, unknown>, hit.path, convert(hit.s, getPath(d, p), false));
      } catch (err) {
        problems.push(`${source}: ${p}: ${(err as Error).message}`);
      }
    } else if (ACCEPTED_UNUSED.has(p)) {
      if (p !== 'apiVersion' && p !== 'kind') warnings.push(`${source}: field "${p}" is accepted but kubelet-ts does not act on it`);
    } else {
      problems.push(`${source}: unknown field "${p}"`);
    }
  }
}

const BY_FLAG = new Map(
  Object.entries(SETTINGS)
    .filter(([, s]) => s.flag)
    .map(([path, s]) => [s.flag ?? '', { path, s }]),
);

/** Splits argv into flags (`--name value`, `--name=value`, bare boolean `--name`). */
export function parseKubeletFlags(argv: readonly string[], problems: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('-')) {
      problems.push(`unexpected argument "${arg}"`);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const hit = BY_FLAG.get(name);
    if (!hit) {
      problems.push(`unknown flag --${name}`);
      continue;
    }
    if (eq >= 0) {
      flags.set(name, body.slice(eq + 1));
    } else if (hit.s.kind === 'bool') {
      flags.set(name, 'true');
    } else {
      const next = argv[i + 1];
      if (next === undefined) problems.push(`flag --${name} needs a value`);
      else flags.set(name, next);
      i++;
    }
  }
  return flags;
}

/**
 * Defaults, then the --config file, then flags, as upstream. Throws KubeletConfigError listing
 * every problem by name; `readFile` is injectable for tests.
 */
export function loadKubeletConfig(argv: readonly string[], readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): LoadResult {
  const problems: string[] = [];
  const warnings: string[] = [];
  const config = defaultKubeletConfig();
  const flags = parseKubeletFlags(argv, problems);
  const file = flags.get('config');
  if (file) {
    config.config = file;
    let text: string | undefined;
    try {
      text = readFile(file);
    } catch (err) {
      problems.push(`--config ${file}: cannot read: ${(err as Error).message}`);
    }
    if (text !== undefined) {
      const docs = parseAllDocuments(text);
      const real = Array.isArray(docs) ? docs.filter((d) => d.contents !== null) : [];
      if (!Array.isArray(docs) || real.length !== 1) {
        problems.push(`--config ${file}: expected one YAML or JSON document`);
      } else {
        const doc = real[0];
        if (doc && doc.errors.length > 0) problems.push(`--config ${file}: ${doc.errors[0]?.message ?? 'parse error'}`);
        else applyConfigFile(config, doc?.toJS(), file, problems, warnings);
      }
    }
  }
  for (const [name, value] of flags) {
    const hit = BY_FLAG.get(name);
    if (!hit) continue;
    try {
      setPath(config as unknown as Record<string, unknown>, hit.path, convert(hit.s, value, true));
    } catch (err) {
      problems.push(`--${name}: ${(err as Error).message}`);
    }
  }
  if (config.imageGCLowThresholdPercent >= config.imageGCHighThresholdPercent) {
    problems.push(
      `imageGCLowThresholdPercent (${config.imageGCLowThresholdPercent}) must be less than imageGCHighThresholdPercent (${config.imageGCHighThresholdPercent})`,
    );
  }
  const eviction = parseEvictionSettings(config);
  problems.push(...eviction.problems);
  warnings.push(...eviction.warnings);
  if (config.kubeletTS.crashLoopBackOffInitial > config.kubeletTS.crashLoopBackOffMax) {
    problems.push('kubeletTS.crashLoopBackOffInitial must not exceed kubeletTS.crashLoopBackOffMax');
  }
  if (
    config.authentication.webhook.enabled === false &&
    config.authorization.mode === 'Webhook' &&
    !config.kubeconfig &&
    !config.authentication.x509.clientCAFile &&
    !config.authentication.anonymous.enabled
  ) {
    // Nothing could ever authenticate; upstream starts anyway, we say so clearly instead.
    warnings.push('authentication: no method enabled (no client CA, no token webhook, anonymous off): every request will be refused');
  }
  if (problems.length > 0) throw new KubeletConfigError(problems);
  return { config, warnings };
}

/** The node name as upstream picks it: --hostname-override, else the hostname, lower-cased. */
export function nodeName(config: KubeletConfig): string {
  return (config.hostnameOverride || hostname()).trim().toLowerCase();
}

/** The effective configuration in upstream file form (durations as Go text), for /configz. */
export function toConfigz(config: KubeletConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { kind: CONFIG_KIND, apiVersion: CONFIG_API_VERSION };
  for (const [path, s] of Object.entries(SETTINGS)) {
    if (s.file === null) continue;
    const v = getPath(config, path);
    setPath(out, s.file, s.kind === 'duration' ? formatDuration(v as number) : v);
  }
  return out;
}

/** `--help` text generated from the table. */
export function flagsHelp(): string {
  return Object.values(SETTINGS)
    .filter((s) => s.flag)
    .map((s) => {
      const def = s.kind === 'duration' ? formatDuration(s.default as number) : JSON.stringify(s.default);
      return `  --${s.flag} (${s.kind}, default ${def})${s.file ? ` [file: ${s.file}]` : ''}\n      ${s.help}`;
    })
    .join('\n');
}
