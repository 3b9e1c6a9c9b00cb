// A container's volumeMounts as CRI mounts, as upstream's makeMounts: each mount names a volume
// the volume manager prepared (its host path), subPath is joined to that path after the same
// checks upstream makes (not absolute, no '..'), readOnly is the mount's or the volume's own
// (secret, configMap, downwardAPI and projected volumes are always read-only), propagation maps
// None/HostToContainer/Bidirectional (Bidirectional only for privileged containers).
// Pure and plain data: PodVolumes crosses to the sync pool threads inside the sync task.
//
// Not here (yet): SELinux relabel (no SELinux on our nodes: always false), subPathExpr, the
// /etc/hosts and termination-log mounts upstream adds to every container.
import { posix } from 'node:path';
import type { Container } from '../api/core-v1.js';
import type { ContainerConfig } from '../pods/cri-config.js';
import { ContainerMountError } from './errors.js';

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
  if (subPath.split('/').includes('..')) throw new ContainerMountError(`unable to provision SubPath \`${subPath}\`: must not contain '..'`);
  return posix.normalize(subPath);
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
      hostPath = posix.join(hostPath, validateSubPath(m.subPath));
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
