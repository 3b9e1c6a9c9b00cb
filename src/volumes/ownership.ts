// fsGroup on volumes, as upstream's SetVolumeOwnership: every file and folder of a volume that
// supports ownership management (emptyDir and the atomic-writer volumes: secret, configMap,
// downwardAPI, projected; never hostPath) gets the pod's fsGroup as its group, group read (and
// write for writable volumes), and folders the setgid bit so new files inherit the group.
// Symlinks are skipped (the atomic writer's ..data and per-key links point inside the volume).
import { chmod, lchown, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pod } from '../api/core-v1.js';

const RW_MASK = 0o660;
const RO_MASK = 0o440;
const EXEC_MASK = 0o110;
const SETGID = 0o2000;

/** The pod's securityContext.fsGroup, when set. */
export function fsGroupOf(pod: Pod): number | undefined {
  const g = (pod.spec.securityContext as { fsGroup?: unknown } | undefined)?.fsGroup;
  return typeof g === 'number' && Number.isInteger(g) && g >= 0 ? g : undefined;
}

export async function setVolumeOwnership(dir: string, fsGroup: number, readOnly: boolean): Promise<void> {
  const walk = async (path: string): Promise<void> => {
    const st = await lstat(path);
    if (st.isSymbolicLink()) return;
    await lchown(path, -1, fsGroup);
    let mask = readOnly ? RO_MASK : RW_MASK;
    if (st.isDirectory()) mask |= SETGID | EXEC_MASK;
    await chmod(path, (st.mode & 0o7777) | mask);
    if (st.isDirectory()) for (const name of await readdir(path)) await walk(join(path, name));
  };
  await walk(dir);
}
