// Pod and container security contexts to CRI, as upstream's kuberuntime does: the effective
// context (pod-level runAsUser, runAsGroup, runAsNonRoot, seLinuxOptions under the container's
// own settings), LinuxContainerSecurityContext (capabilities, privileged, user and groups with
// fsGroup and supplementalGroups, no_new_privs from allowPrivilegeEscalation, read-only root,
// seccomp, the default masked and read-only /proc paths unless procMount is Unmasked),
// LinuxSandboxSecurityContext for the pause container, the sandbox sysctls, and the
// runAsNonRoot check against the image's user. Pure: the image user and the seccomp profile
// folder come in.
import type { Container, Pod } from '../api/core-v1.js';
import type { ContainerConfig, SandboxConfig } from '../native/cri/api.js';
import { joinRelative } from '../util/safe-path.js';

export interface SeccompProfile {
  type?: 'RuntimeDefault' | 'Unconfined' | 'Localhost';
  localhostProfile?: string;
}

export interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  privileged?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  seccompProfile?: SeccompProfile;
  procMount?: 'Default' | 'Unmasked';
  seLinuxOptions?: { user?: string; role?: string; type?: string; level?: string };
}

export interface PodSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
  supplementalGroups?: number[];
  seccompProfile?: SeccompProfile;
  sysctls?: { name: string; value: string }[];
  seLinuxOptions?: { user?: string; role?: string; type?: string; level?: string };
}

export type CriContainerSecurity = NonNullable<NonNullable<ContainerConfig['linux']>['securityContext']>;
export type CriSandboxSecurity = NonNullable<NonNullable<SandboxConfig['linux']>['securityContext']>;
type CriProfile = NonNullable<CriContainerSecurity['seccomp']>;

/** moby's defaults, which upstream copies (pkg/securitycontext). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
];
export const DEFAULT_READONLY_PATHS: readonly string[] = ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export function podSecurityContext(pod: Pod): PodSecurityContext {
  // Record<string, unknown> narrows to the fields this file reads.
  return pod.spec.securityContext ?? {};
}

/** Upstream DetermineEffectiveSecurityContext: pod-level user settings, overridden field by field by the container's. */
export function effectiveSecurityContext(pod: Pod, c: Container): SecurityContext {
  const p = podSecurityContext(pod);
  const own = (c.securityContext ?? {}) as SecurityContext;
  const eff: SecurityContext = {};
  if (p.runAsUser !== undefined) eff.runAsUser = p.runAsUser;
  if (p.runAsGroup !== undefined) eff.runAsGroup = p.runAsGroup;
  if (p.runAsNonRoot !== undefined) eff.runAsNonRoot = p.runAsNonRoot;
  if (p.seLinuxOptions !== undefined) eff.seLinuxOptions = p.seLinuxOptions;
  for (const [k, v] of Object.entries(own)) if (v !== undefined && v !== null) (eff as Record<string, unknown>)[k] = v;
  return eff;
}

/**
 * Upstream fieldSeccompProfile; profiles for Localhost live under `<root-dir>/seccomp`, and the
 * pod's localhostProfile must stay there (UnsafePathError otherwise: the runtime would read any file).
 */
function criSeccomp(p: SeccompProfile | undefined, profileRoot: string): CriProfile {
  if (p?.type === 'RuntimeDefault') return { profileType: 'RuntimeDefault', localhostRef: '' };
  if (p?.type === 'Localhost' && p.localhostProfile)
    return { profileType: 'Localhost', localhostRef: joinRelative(profileRoot, p.localhostProfile, 'seccomp localhostProfile') };
  return { profileType: 'Unconfined', localhostRef: '' };
}

/** The container field wins over the pod's; none: Unconfined (upstream's default in v1.20). */
export function seccompFor(pod: Pod, c: Container | undefined, profileRoot: string): CriProfile {
  const own = (c?.securityContext as SecurityContext | undefined)?.seccompProfile;
  return criSeccomp(own ?? podSecurityContext(pod).seccompProfile, profileRoot);
}

/** The same profile in the older string form (seccomp_profile_path) runtimes still read. */
function seccompPath(p: CriProfile): string {
  if (p.profileType === 'RuntimeDefault') return 'runtime/default';
  if (p.profileType === 'Localhost') return `localhost/${p.localhostRef ?? ''}`;
  return 'unconfined';
}

function supplementalGroups(pod: Pod): number[] {
  const p = podSecurityContext(pod);
  return [...(p.fsGroup !== undefined ? [p.fsGroup] : []), ...(p.supplementalGroups ?? [])];
}

/** The image's user as ImageStatus gives it: a uid, or a name, or neither (root). */
export interface ImageUser {
  uid?: number;
  username?: string;
}

/**
 * Upstream verifyRunAsNonRoot: with runAsNonRoot, a container must not run as uid 0, and a
 * user name cannot be checked. An image that names no user runs as root. Returns the message
 * of the CreateContainerConfigError, or undefined when the container may start.
 */
export function runAsNonRootViolation(pod: Pod, c: Container, image: ImageUser): string | undefined {
  const eff = effectiveSecurityContext(pod, c);
  if (eff.runAsNonRoot !== true) return undefined;
  const podName = `${pod.metadata.name ?? ''}_${pod.metadata.namespace ?? 'default'}(${pod.metadata.uid ?? ''})`;
  if (eff.runAsUser !== undefined) {
    return eff.runAsUser === 0 ? `container's runAsUser breaks non-root policy (pod: "${podName}", container: ${c.name})` : undefined;
  }
  if (image.uid === undefined && image.username) {
    return `container has runAsNonRoot and image has non-numeric user (${image.username}), cannot verify user is non-root (pod: "${podName}", container: ${c.name})`;
  }
  if ((image.uid ?? 0) === 0) return `container has runAsNonRoot and image will run as root (pod: "${podName}", container: ${c.name})`;
  return undefined;
}

/** Whether the runAsNonRoot check needs the image's user (so the sync asks ImageStatus only then). */
export function needsImageUser(pod: Pod, c: Container): boolean {
  const eff = effectiveSecurityContext(pod, c);
  return eff.runAsNonRoot === true && eff.runAsUser === undefined;
}

/** Upstream determineEffectiveSecurityContext, minus namespace options (cri-config adds them). */
export function containerSecurity(pod: Pod, c: Container, profileRoot: string): Omit<CriContainerSecurity, 'namespaceOptions'> {
  const eff = effectiveSecurityContext(pod, c);
  const unmasked = eff.procMount === 'Unmasked';
  const seccomp = seccompFor(pod, c, profileRoot);
  const sc: Omit<CriContainerSecurity, 'namespaceOptions'> = {
    privileged: eff.privileged === true,
    readonlyRootfs: eff.readOnlyRootFilesystem === true,
    supplementalGroups: supplementalGroups(pod),
    // Upstream: no_new_privs only when allowPrivilegeEscalation is set to false.
    noNewPrivs: eff.allowPrivilegeEscalation === false,
    maskedPaths: unmasked ? [] : [...DEFAULT_MASKED_PATHS],
    readonlyPaths: unmasked ? [] : [...DEFAULT_READONLY_PATHS],
    seccomp,
    seccompProfilePath: seccompPath(seccomp),
  };
  if (eff.capabilities) sc.capabilities = { addCapabilities: [...(eff.capabilities.add ?? [])], dropCapabilities: [...(eff.capabilities.drop ?? [])] };
  if (eff.runAsUser !== undefined) sc.runAsUser = { value: eff.runAsUser };
  if (eff.runAsGroup !== undefined) sc.runAsGroup = { value: eff.runAsGroup };
  if (eff.seLinuxOptions)
    sc.selinuxOptions = {
      user: eff.seLinuxOptions.user ?? '',
      role: eff.seLinuxOptions.role ?? '',
      type: eff.seLinuxOptions.type ?? '',
      level: eff.seLinuxOptions.level ?? '',
    };
  return sc;
}

/**
 * Upstream's sandbox security context: the pod's runAsUser/runAsGroup/groups for the pause
 * container, privileged when any container is, the pod's seccomp profile.
 */
export function sandboxSecurity(pod: Pod, profileRoot: string): Omit<CriSandboxSecurity, 'namespaceOptions'> {
  const p = podSecurityContext(pod);
  const all = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  const seccomp = seccompFor(pod, undefined, profileRoot);
  const sc: Omit<CriSandboxSecurity, 'namespaceOptions'> = {
    privileged: all.some((c) => (c.securityContext as SecurityContext | undefined)?.privileged === true),
    supplementalGroups: supplementalGroups(pod),
    seccomp,
    seccompProfilePath: seccompPath(seccomp),
  };
  if (p.runAsUser !== undefined) sc.runAsUser = { value: p.runAsUser };
  if (p.runAsGroup !== undefined) sc.runAsGroup = { value: p.runAsGroup };
  if (p.seLinuxOptions)
    sc.selinuxOptions = {
      user: p.seLinuxOptions.user ?? '',
      role: p.seLinuxOptions.role ?? '',
      type: p.seLinuxOptions.type ?? '',
      level: p.seLinuxOptions.level ?? '',
    };
  return sc;
}

/** The pod's sysctls (securityContext.sysctls) for the sandbox. */
export function podSysctls(pod: Pod): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of podSecurityContext(pod).sysctls ?? []) out[s.name] = s.value;
  return out;
}
