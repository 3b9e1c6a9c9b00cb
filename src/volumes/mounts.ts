// A container's volumeMounts as CRI mounts, as upstream's makeMounts: each mount names a volume
// the volume manager prepared (its host path), subPath is joined to that path after the same
// checks upstream makes (not absolute, no '..'), readOnly is the mount's or the volume's own
// (secret, configMap, downwardAPI and projected volumes are always read-only), propagation maps
// None/HostToContainer/Bidirectional (Bidirectional only for privileged containers).
// Pure and plain data: PodVolumes crosses to the sync pool threads inside the sync task.
// The one step that reads the host is resolveSubPathMounts, run by the sync right before
// CreateContainer: a subPath's real path (through symlinks the container may have planted in
// its volume since the volume manager looked) must still be inside the volume's real path.
//
// Not here (yet): SELinux relabel (no SELinux on our nodes: always false), subPathExpr, the
// /etc/hosts and termination-log mounts upstream adds to every container.
import { posix } from 'node:path';
import type { Container } from '../api/core-v1.js';
import type { ContainerConfig } from '../pods/cri-config.js';
import { ContainerMountError } from './errors.js';
import { isUnsafePathError, joinRelative, realPathInside } from '../util/safe-path.js';

export type CriMount = NonNullable<ContainerConfig['mounts']>[number];

/** A volume ready on the host. */
export interface PreparedVolume {
  hostPath: string;
  /** The volume is read-only whatever the mount says (secret, configMap, downwardAPI, projected). */
  readOnly: boolean;
  /** subPaths the volume manager refused (they resolve outside the volume), with the reason. */
  subPathErrors?: Record<string, string>;
}

/** Volume name -> prepared volume: what the volume manager hands the sync. */
export type PodVolumes = Record<string, PreparedVolume>;

/** Upstream's subPath checks; returns the cleaned relative path. */
export function validateSubPath(subPath: string): string {
  if (posix.isAbsolute(subPath)) throw new ContainerMountError(`error SubPath \`${subPath}\` must not be an absolute path`);
  if (subPath.includes('\0')) throw new ContainerMountError(`error SubPath ${JSON.stringify(subPath)} must not contain NUL`);
  if (subPath.split('/').includes('..')) throw new ContainerMountError(`unable to provision SubPath \`${subPath}\`: must not contain '..'`);
  return posix.normalize(subPath);
}

function joinSubPath(volumePath: string, rel: string): string {
  try {
    return joinRelative(volumePath, rel, 'subPath');
  } catch (err) {
    throw new ContainerMountError(isUnsafePathError(err) ? err.message : String(err), { cause: err });
  }
}

function propagationOf(mode: string | undefined, privileged: boolean): NonNullable<CriMount['propagation']> {
  switch (mode ?? 'None') {
    case 'None':
      return 'PROPAGATION_PRIVATE';
    case 'HostToContainer':
      return 'PROPAGATION_HOST_TO_CONTAINER';
    case 'Bidirectional':
      if (!privileged) throw new ContainerMountError('Bidirectional mount propagation is available only to privileged containers');
      return 'PROPAGATION_BIDIRECTIONAL';
    default:
      throw new ContainerMountError(`invalid MountPropagation mode: "${mode ?? ''}"`);
  }
}

/** The CRI mounts of one container. Throws ContainerMountError (CreateContainerConfigError). */
export function containerMounts(c: Container, volumes: Readonly<PodVolumes>): CriMount[] {
  const privileged = (c.securityContext as { privileged?: boolean } | undefined)?.privileged === true;
  const out: CriMount[] = [];
  for (const m of c.volumeMounts ?? []) {
    const vol = Object.hasOwn(volumes, m.name) ? volumes[m.name] : undefined;
    if (!vol) throw new ContainerMountError(`cannot find volume "${m.name}" to mount into container "${c.name}"`);
    let hostPath = vol.hostPath;
    if (m.subPath) {
      const refused = vol.subPathErrors?.[m.subPath];
      if (refused) throw new ContainerMountError(refused);
      hostPath = joinSubPath(hostPath, validateSubPath(m.subPath));
    }
    out.push({
      containerPath: m.mountPath,
      hostPath,
      readonly: m.readOnly === true || vol.readOnly,
      selinuxRelabel: false,
      propagation: propagationOf(m.mountPropagation, privileged),
    });
  }
  return out;
}

/**
 * The time-of-use check of a container's subPath mounts (in place, on the mounts containerMounts
 * made): each one's real path must be inside its volume's real path, and the runtime gets that
 * real path. Throws ContainerMountError (CreateContainerConfigError), as upstream's
 * "subpath ... not within volume path" or a subPath that does not exist.
 */
export async function resolveSubPathMounts(c: Container, volumes: Readonly<PodVolumes>, mounts: CriMount[]): Promise<void> {
  for (const m of c.volumeMounts ?? []) {
    if (!m.subPath) continue;
    const vol = Object.hasOwn(volumes, m.name) ? volumes[m.name] : undefined;
    const mount = mounts.find((x) => x.containerPath === m.mountPath);
    if (!vol || !mount) continue;
    try {
      mount.hostPath = await realPathInside(vol.hostPath, validateSubPath(m.subPath), 'subPath', { path: 'subpath', base: 'volume path' });
    } catch (err) {
      if (err instanceof ContainerMountError) throw err;
      const why = isUnsafePathError(err) ? err.message : `failed to prepare subPath "${m.subPath}" for volume "${m.name}": ${(err as Error).message}`;
      throw new ContainerMountError(why, { cause: err });
    }
  }
}
