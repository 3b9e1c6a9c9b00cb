// What the main thread prepared for a pod's sync (volume host paths, resolved env), as plain
// data carried by the sync task to a pool thread, and the pure step there that turns it into
// one container's CRI mounts and env. Kept apart from the volume manager so pool threads load
// nothing that touches the host.
import type { Container } from '../api/core-v1.js';
import { EnvResolveError } from './errors.js';
import { containerMounts, type CriMount, type PodVolumes } from './mounts.js';

export type ContainerEnv = { env: { name: string; value: string }[] } | { error: string };

export interface PreparedPod {
  volumes: PodVolumes;
  /** Container name -> its env. Absent: the sync uses the literal env values only. */
  env?: Record<string, ContainerEnv>;
}

/**
 * The mounts and env of one container, for cri-config. Without a prepared pod (no volume
 * manager), nothing: the container gets no mounts and its literal env, as before volumes.
 * Throws ContainerMountError / EnvResolveError: the sync makes it CreateContainerConfigError.
 */
export function containerInputs(c: Container, prepared: PreparedPod | undefined): { mounts?: CriMount[]; env?: { name: string; value: string }[] } {
  if (!prepared) return {};
  const mounts = containerMounts(c, prepared.volumes);
  const env = prepared.env && Object.hasOwn(prepared.env, c.name) ? prepared.env[c.name] : undefined;
  if (env && 'error' in env) throw new EnvResolveError(env.error);
  return env ? { mounts, env: env.env } : { mounts };
}
