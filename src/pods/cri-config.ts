// The CRI requests a pod turns into: the PodSandboxConfig and ContainerConfig that upstream's
// kuberuntime builds, with the same labels, annotations and log layout, so crictl users, log
// collectors (which read /var/log/pods/<ns>_<name>_<uid>/<container>/<restart>.log) and a
// restarted kubelet recognise everything. Pure: paths and node facts come in as options.
//
// Volume mounts and resolved env come in as options (src/volumes builds them on the main
// thread; they reach here inside the sync task).
// Resources and the pod cgroup parent come from resources.ts, security contexts and sysctls
// from security-context.ts (both pure); the node facts they need (machine memory, cgroup root,
// seccomp profile folder) come in as SandboxOptions.
import type { Container, Pod } from '../api/core-v1.js';
import type { ContainerConfig, SandboxConfig } from '../native/cri/api.js';
import { containerHash } from './hash.js';
import { containerResources, podCgroupParent } from './resources.js';
import { containerSecurity, podSysctls, sandboxSecurity } from './security-context.js';
import { component, joinUnder } from '../util/safe-path.js';
import {
  ANNOTATION_CONTAINER_HASH,
  ANNOTATION_RESTART_COUNT,
  ANNOTATION_TERMINATION_GRACE_PERIOD,
  ANNOTATION_TERMINATION_MESSAGE_PATH,
  ANNOTATION_TERMINATION_MESSAGE_POLICY,
  LABEL_CONTAINER_NAME,
  LABEL_POD_NAME,
  LABEL_POD_NAMESPACE,
  LABEL_POD_UID,
} from './runtime-state.js';

export type { ContainerConfig, SandboxConfig };

export const DEFAULT_POD_LOGS_DIR = '/var/log/pods';
export const ANNOTATION_CONTAINER_PORTS = 'io.kubernetes.container.ports';
export const ANNOTATION_PRESTOP_HANDLER = 'io.kubernetes.container.preStopHandler';

export interface SandboxOptions {
  attempt: number;
  podLogsDir?: string;
  /** `<root-dir>/pods`: where termination-message files are made (none mounted when absent). */
  podsDir?: string;
  /** resolv.conf content of the node, for dnsPolicy Default (and ClusterFirst without cluster DNS). */
  hostResolvConf?: string;
  clusterDNS?: readonly string[];
  clusterDomain?: string;
  /** The node's memory capacity in bytes: Burstable oom_score_adj is relative to it. */
  machineMemoryBytes?: number;
  /** --cgroup-root ('' means '/') and --cgroups-per-qos: where the pod cgroups live. */
  cgroupRoot?: string;
  cgroupsPerQOS?: boolean;
  /** Folder of Localhost seccomp profiles (upstream `<root-dir>/seccomp`). */
  seccompProfileRoot?: string;
  /** The kubelet's --root-dir: the managed hosts file goes to `<root-dir>/pods/<uid>/etc-hosts`. */
  rootDir?: string;
}

/** The node facts a container's config needs (the same values as the sandbox's). */
export type ContainerNodeOptions = Pick<SandboxOptions, 'machineMemoryBytes' | 'seccompProfileRoot'> & {
  /** Host path of the pod's managed hosts file, bind-mounted at /etc/hosts when set. */
  etcHostsPath?: string;
};

const DEFAULT_SECCOMP_ROOT = '/var/lib/kubelet/seccomp';

/** Upstream GeneratePodHostNameAndDomain's domain: `<subdomain>.<ns>.svc.<cluster domain>` when a subdomain is set. */
export function podHostDomain(pod: Pod, clusterDomain = 'cluster.local'): string {
  return pod.spec.subdomain ? `${pod.spec.subdomain}.${pod.metadata.namespace ?? 'default'}.svc.${clusterDomain}` : '';
}

/** The kernel hostname: the FQDN with setHostnameAsFQDN and a subdomain, else the pod hostname. */
export function podKernelHostname(pod: Pod, clusterDomain?: string): string {
  const host = podHostname(pod);
  const domain = podHostDomain(pod, clusterDomain);
  return pod.spec['setHostnameAsFQDN'] === true && domain ? `${host}.${domain}` : host;
}

/** `<podLogsDir>/<ns>_<name>_<uid>`; throws UnsafePathError unless each of the three is one plain component. */
export function podLogDirectory(pod: Pod, podLogsDir = DEFAULT_POD_LOGS_DIR): string {
  const ns = component(pod.metadata.namespace ?? 'default', 'pod namespace');
  const name = component(pod.metadata.name ?? '', 'pod name');
  const uid = component(pod.metadata.uid ?? '', 'pod uid');
  return joinUnder(podLogsDir, [`${ns}_${name}_${uid}`], 'pod log folder');
}

/** A container's log, relative to its pod's log folder (the runtime joins the two). */
export function containerLogPath(containerName: string, restartCount: number): string {
  return `${component(containerName, 'container name')}/${restartCount}.log`;
}

/** Upstream: the sandbox hostname is spec.hostname or the pod name, cut to 63 and trimmed of '-' and '.'. */
export function podHostname(pod: Pod): string {
  const name = pod.spec.hostname || (pod.metadata.name ?? '');
  return name.length > 63 ? name.slice(0, 63).replace(/[-.]+$/, '') : name;
}

function parseResolvConf(text: string): { servers: string[]; searches: string[]; options: string[] } {
  const servers: string[] = [];
  let searches: string[] = [];
  let options: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) servers.push(rest[0]);
    else if (key === 'search' || key === 'domain') searches = rest;
    else if (key === 'options') options = rest;
  }
  return { servers, searches, options };
}

/** DNS for the sandbox as dnsPolicy asks (ClusterFirst, Default, None with dnsConfig). */
export function podDnsConfig(pod: Pod, opts: SandboxOptions): { servers: string[]; searches: string[]; options: string[] } {
  const host = parseResolvConf(opts.hostResolvConf ?? '');
  const policy = pod.spec.dnsPolicy ?? 'ClusterFirst';
  const custom = (pod.spec['dnsConfig'] ?? {}) as { nameservers?: string[]; searches?: string[]; options?: { name: string; value?: string }[] };
  let base = host;
  const clusterFirst = (policy === 'ClusterFirst' && !pod.spec.hostNetwork) || policy === 'ClusterFirstWithHostNet';
  if (clusterFirst && opts.clusterDNS && opts.clusterDNS.length > 0) {
    const ns = pod.metadata.namespace ?? 'default';
    const domain = opts.clusterDomain ?? 'cluster.local';
    base = { servers: [...opts.clusterDNS], searches: [`${ns}.svc.${domain}`, `svc.${domain}`, domain, ...host.searches], options: ['ndots:5'] };
  } else if (policy === 'None') {
    base = { servers: [], searches: [], options: [] };
  }
  return {
    servers: [...base.servers, ...(custom.nameservers ?? [])],
    searches: [...base.searches, ...(custom.searches ?? [])].slice(0, 32),
    options: [...base.options, ...(custom.options ?? []).map((o) => (o.value === undefined ? o.name : `${o.name}:${o.value}`))],
  };
}

export function podLabels(pod: Pod): Record<string, string> {
  return {
    ...pod.metadata.labels,
    [LABEL_POD_NAME]: pod.metadata.name ?? '',
    [LABEL_POD_NAMESPACE]: pod.metadata.namespace ?? 'default',
    [LABEL_POD_UID]: pod.metadata.uid ?? '',
  };
}

function namespaceOptions(pod: Pod): { network: 'POD' | 'NODE'; pid: 'POD' | 'CONTAINER' | 'NODE'; ipc: 'POD' | 'NODE' } {
  return {
    network: pod.spec.hostNetwork ? 'NODE' : 'POD',
    pid: pod.spec.hostPID ? 'NODE' : pod.spec['shareProcessNamespace'] === true ? 'POD' : 'CONTAINER',
    ipc: pod.spec.hostIPC ? 'NODE' : 'POD',
  };
}

export function sandboxConfigFor(pod: Pod, opts: SandboxOptions): SandboxConfig {
  const ports = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].flatMap((c) => c.ports ?? []);
  return {
    metadata: { name: pod.metadata.name ?? '', namespace: pod.metadata.namespace ?? 'default', uid: pod.metadata.uid ?? '', attempt: opts.attempt },
    hostname: pod.spec.hostNetwork ? '' : podKernelHostname(pod, opts.clusterDomain),
    logDirectory: podLogDirectory(pod, opts.podLogsDir),
    dnsConfig: podDnsConfig(pod, opts),
    portMappings: ports
      .filter((p) => (p.hostPort ?? 0) > 0)
      .map((p) => ({ protocol: p.protocol ?? 'TCP', containerPort: p.containerPort, hostPort: p.hostPort ?? 0, hostIp: p.hostIP ?? '' })),
    labels: podLabels(pod),
    annotations: { ...pod.metadata.annotations },
    linux: {
      cgroupParent: podCgroupParent(pod, opts.cgroupRoot ?? '', opts.cgroupsPerQOS ?? true),
      securityContext: { namespaceOptions: namespaceOptions(pod), ...sandboxSecurity(pod, opts.seccompProfileRoot ?? DEFAULT_SECCOMP_ROOT) },
      sysctls: podSysctls(pod),
    },
  };
}

export interface ContainerOptions extends ContainerNodeOptions {
  restartCount: number;
  /** CRI mounts of the container's volumeMounts (src/volumes/mounts.ts); none when absent. */
  mounts?: NonNullable<ContainerConfig['mounts']>;
  /** The resolved env (src/volumes/env.ts); absent: the literal `value`s of env[] only. */
  env?: readonly { name: string; value: string }[];
  /** command and args with $(VAR) expanded over the final env (src/volumes/env.ts); absent: as written. */
  command?: readonly string[];
  args?: readonly string[];
}

export function containerConfigFor(pod: Pod, c: Container, opts: ContainerOptions): ContainerConfig {
  const annotations: Record<string, string> = {
    [ANNOTATION_CONTAINER_HASH]: containerHash(c),
    [ANNOTATION_RESTART_COUNT]: String(opts.restartCount),
    [ANNOTATION_TERMINATION_MESSAGE_PATH]: c.terminationMessagePath ?? '/dev/termination-log',
    [ANNOTATION_TERMINATION_MESSAGE_POLICY]: c.terminationMessagePolicy ?? 'File',
    [ANNOTATION_TERMINATION_GRACE_PERIOD]: String(pod.spec.terminationGracePeriodSeconds ?? 30),
  };
  if (c.ports && c.ports.length > 0) annotations[ANNOTATION_CONTAINER_PORTS] = JSON.stringify(c.ports);
  if (c.lifecycle?.preStop) annotations[ANNOTATION_PRESTOP_HANDLER] = JSON.stringify(c.lifecycle.preStop);
  return {
    metadata: { name: c.name, attempt: opts.restartCount },
    image: { image: c.image ?? '' },
    command: opts.command ? [...opts.command] : (c.command ?? []),
    args: opts.args ? [...opts.args] : (c.args ?? []),
    workingDir: c.workingDir ?? '',
    envs: opts.env
      ? opts.env.map((e) => ({ key: e.name, value: e.value }))
      : (c.env ?? []).filter((e) => e.value !== undefined).map((e) => ({ key: e.name, value: e.value ?? '' })),
    mounts: [...(opts.mounts ?? []), ...etcHostsMount(c, opts)],
    devices: [],
    labels: {
      [LABEL_POD_NAME]: pod.metadata.name ?? '',
      [LABEL_POD_NAMESPACE]: pod.metadata.namespace ?? 'default',
      [LABEL_POD_UID]: pod.metadata.uid ?? '',
      [LABEL_CONTAINER_NAME]: c.name,
    },
    annotations,
    logPath: containerLogPath(c.name, opts.restartCount),
    stdin: c.stdin ?? false,
    stdinOnce: c.stdinOnce ?? false,
    tty: c.tty ?? false,
    linux: {
      resources: containerResources(pod, c, opts.machineMemoryBytes ?? 0),
      securityContext: { namespaceOptions: namespaceOptions(pod), ...containerSecurity(pod, c, opts.seccompProfileRoot ?? DEFAULT_SECCOMP_ROOT) },
    },
  };
}

/** Upstream makeMounts: the managed hosts file, unless the container mounts its own /etc/hosts. */
function etcHostsMount(c: Container, opts: ContainerOptions): NonNullable<ContainerConfig['mounts']> {
  if (!opts.etcHostsPath || (c.volumeMounts ?? []).some((m) => m.mountPath === '/etc/hosts')) return [];
  return [{ containerPath: '/etc/hosts', hostPath: opts.etcHostsPath, readonly: false, selinuxRelabel: false, propagation: 'PROPAGATION_PRIVATE' }];
}
