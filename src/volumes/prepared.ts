// What the main thread prepared for a pod's sync (volume host paths, resolved env), as plain
// data carried by the sync task to a pool thread, and the pure step there that turns it into
// one container's CRI mounts, env, command and args. Kept apart from the volume manager so pool
// threads load nothing that touches the host. The env is finished here, not on the main thread,
// because status.podIP is only known once the sandbox exists (the sync passes the pod IPs in).
import type { Container } from '../api/core-v1.js';
import { EnvResolveError } from './errors.js';
import { containerMounts, type CriMount, type PodVolumes } from './mounts.js';
import { expandCommandAndArgs, finalizeEnv, literalEnvEntries, type EnvEntry, type EnvVar } from './env.js';

export type ContainerEnv = { entries: EnvEntry[] } | { error: string };

export interface PreparedPod {
  volumes: PodVolumes;
  /** Container name -> its env entries. Absent: the sync uses the literal env values only. */
  env?: Record<string, ContainerEnv>;
  /** The pod's service environment variables (enableServiceLinks); absent: none. */
  serviceEnv?: Record<string, string>;
}

export interface ContainerInputs {
  mounts?: CriMount[];
  env: EnvVar[];
  command: string[];
  args: string[];
}

/**
 * The mounts, env, command and args of one container, for cri-config. Without a prepared pod (no
 * volume manager): no mounts and the literal env, still expanded as upstream.
 * Throws ContainerMountError / EnvResolveError: the sync makes it CreateContainerConfigError.
 */
export function containerInputs(c: Container, prepared: PreparedPod | undefined, podIPs: readonly string[] = []): ContainerInputs {
  const mounts = prepared ? containerMounts(c, prepared.volumes) : undefined;
  const resolved = prepared?.env && Object.hasOwn(prepared.env, c.name) ? prepared.env[c.name] : undefined;
  if (resolved && 'error' in resolved) throw new EnvResolveError(resolved.error);
  const env = finalizeEnv(resolved ? resolved.entries : literalEnvEntries(c), prepared?.serviceEnv ?? {}, podIPs);
  return { ...(mounts ? { mounts } : {}), env, ...expandCommandAndArgs(c, env) };
}
