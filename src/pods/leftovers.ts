// What a pod leaves on the host outside the runtime, and its removal once nobody wants the pod:
// its log folder `<pod-logs-dir>/<ns>_<name>_<uid>` (upstream's container GC removes those of
// pods that no longer exist) and its folder `<root-dir>/pods/<uid>` (upstream's housekeeping
// cleanupOrphanedPodDirs). Both run only once every source is ready, so that a pod a source has
// not delivered yet after a restart is not taken for gone. Nothing outside those two folders is
// ever removed, and only entries whose names are one plain path component.
import { readdir } from 'node:fs/promises';
import { componentProblem, joinUnder, removeInside } from '../util/safe-path.js';

/** The UID of a pod log folder name `<ns>_<name>_<uid>` (namespaces and names hold no '_'). */
export function uidOfPodLogFolder(name: string): string | undefined {
  const parts = name.split('_');
  return parts.length === 3 && parts[2] ? parts[2] : undefined;
}

/** Removes the pod log folders of pods `keep` does not hold; returns the names removed. */
export async function removePodLogFolders(podLogsDir: string, keep: (uid: string) => boolean): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(podLogsDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const uid = uidOfPodLogFolder(name);
    if (uid === undefined || componentProblem(name) !== undefined || keep(uid)) continue;
    await removeInside(podLogsDir, joinUnder(podLogsDir, [name], 'pod log folder'), 'pod log folder');
    removed.push(name);
  }
  return removed;
}

/** Removes one pod's log folder (the pod is gone). */
export async function removePodLogFolder(podLogsDir: string, namespace: string, name: string, uid: string): Promise<void> {
  // joinUnder refuses (throws) a folder name that is no plain component: nothing else is removed.
  await removeInside(podLogsDir, joinUnder(podLogsDir, [`${namespace}_${name}_${uid}`], 'pod log folder'), 'pod log folder');
}
