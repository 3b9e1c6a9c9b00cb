// What a pod leaves on the host outside the runtime, and its removal once nobody wants the pod:
// its log folder `<pod-logs-dir>/<ns>_<name>_<uid>` (upstream's container GC removes those of
// pods that no longer exist) and its folder `<root-dir>/pods/<uid>` (upstream's housekeeping
// cleanupOrphanedPodDirs). Both run only once every source is ready, so that a pod a source has
// not delivered yet after a restart is not taken for gone. Nothing outside those two folders is
// ever removed, and only entries whose names are one plain path component.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * `parent/name` when `name` is one safe path component, else undefined. The one place these
 * removals build paths (to switch over to the shared safe-path module at merge).
 */
export function childPath(parent: string, name: string): string | undefined {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) return undefined;
  return join(parent, name);
}

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
    const path = childPath(podLogsDir, name);
    if (uid === undefined || path === undefined || keep(uid)) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** Removes one pod's log folder (the pod is gone). */
export async function removePodLogFolder(podLogsDir: string, namespace: string, name: string, uid: string): Promise<void> {
  const path = childPath(podLogsDir, `${namespace}_${name}_${uid}`);
  if (path) await rm(path, { recursive: true, force: true });
}
