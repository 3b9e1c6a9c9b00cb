// emptyDir volumes: a folder under the pod's volume dir that lives as long as the pod, mode 0777
// so any user in the containers can write (as upstream). medium Memory mounts a tmpfs on it,
// capped at sizeLimit when given (upstream: tmpfs size = sizeLimit); the default medium is the
// node's disk (sizeLimit there is an eviction matter, not enforced here).
import { chmod, mkdir } from 'node:fs/promises';
import type { Quantity } from '../api/core-v1.js';
import { UnsupportedVolumeError } from './errors.js';
import type { Mounter } from './mounter.js';
import { quantityValue } from './resources.js';

export interface EmptyDirVolumeSource {
  medium?: string;
  sizeLimit?: Quantity;
}

export async function setUpEmptyDir(dir: string, source: EmptyDirVolumeSource, mounter: Mounter): Promise<void> {
  const medium = source.medium ?? '';
  if (medium !== '' && medium !== 'Memory')
    throw new UnsupportedVolumeError(`emptyDir medium ${JSON.stringify(medium)} is not supported (only "" and "Memory")`);
  await mkdir(dir, { recursive: true, mode: 0o750 });
  if (medium === 'Memory' && !(await mounter.mountPointsUnder(dir)).includes(dir)) {
    await mounter.mountTmpfs(dir, source.sizeLimit === undefined ? { mode: 0o777 } : { sizeBytes: quantityValue(source.sizeLimit), mode: 0o777 });
  }
  await chmod(dir, 0o777);
}
