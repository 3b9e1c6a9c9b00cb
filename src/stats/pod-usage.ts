// What each pod uses, as the eviction ranking needs it, from one stats sample: per container its
// memory working set, writable layer and logs, grouped by pod UID; and the size of a folder
// (a container's log folder), which the sample reads per container.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerUsage, PodUsage } from '../eviction/ranking.js';
import { PLUGIN_DIR, podVolumesDir } from '../volumes/paths.js';
import type { StatsSample } from './summary.js';

/** Bytes and inodes (files) under a folder, recursively; 0 when it is missing. */
export function folderUsage(dir: string): { bytes: number; inodes: number } {
  let bytes = 0;
  let inodes = 0;
  const walk = (d: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      inodes++;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        try {
          bytes += statSync(p).size;
        } catch {
          // gone between readdir and stat (a rotated log): it no longer counts
        }
      }
    }
  };
  // (A missing folder is common, a container with no log yet: no exception for it.)
  if (statSync(dir, { throwIfNoEntry: false })?.isDirectory()) walk(dir);
  return { bytes, inodes };
}

/**
 * What a pod's emptyDir volumes hold on the node filesystem (memory-backed ones are on a tmpfs of
 * their own, another device, and do not count), bytes and inodes; 0 for a pod with none.
 */
export function localVolumeUsage(rootDir: string, uid: string): { bytes: number; inodes: number } {
  let dir: string;
  try {
    dir = join(podVolumesDir(rootDir, uid), PLUGIN_DIR.emptyDir);
  } catch {
    return { bytes: 0, inodes: 0 }; // a UID that is no plain path component: nothing of ours
  }
  const top = statSync(dir, { throwIfNoEntry: false });
  if (!top?.isDirectory()) return { bytes: 0, inodes: 0 };
  let bytes = 0;
  let inodes = 0;
  for (const name of readdirSync(dir)) {
    const v = join(dir, name);
    if (statSync(v, { throwIfNoEntry: false })?.dev !== top.dev) continue;
    const u = folderUsage(v);
    bytes += u.bytes;
    inodes += u.inodes;
  }
  return { bytes, inodes };
}

/** Usage per pod UID of the containers in a sample (several attempts of one container: the newest). */
export function podUsageOf(sample: StatsSample): Map<string, PodUsage> {
  const out = new Map<string, PodUsage>();
  const newest = [...sample.containers].sort((a, b) => a.createdAtMs - b.createdAtMs);
  for (const s of newest) {
    let pod = out.get(s.podUid);
    if (!pod) {
      pod = { containers: [] };
      out.set(s.podUid, pod);
    }
    const c: ContainerUsage = { name: s.name };
    if (s.logsBytes !== undefined) c.logsBytes = s.logsBytes;
    if (s.logsInodes !== undefined) c.logsInodes = s.logsInodes;
    if (s.memoryWorkingSetBytes !== undefined) c.memoryWorkingSetBytes = s.memoryWorkingSetBytes;
    if (s.rootfsBytes !== undefined) c.rootfsBytes = s.rootfsBytes;
    if (s.rootfsInodes !== undefined) c.rootfsInodes = s.rootfsInodes;
    const at = pod.containers.findIndex((x) => x.name === s.name);
    if (at >= 0) pod.containers[at] = c;
    else pod.containers.push(c);
  }
  for (const p of sample.pods) {
    const pod = out.get(p.uid);
    if (pod && p.volumesBytes !== undefined) {
      pod.volumesBytes = p.volumesBytes;
      pod.volumesInodes = p.volumesInodes ?? 0;
    }
  }
  for (const pod of out.values()) {
    const ws = pod.containers.map((c) => c.memoryWorkingSetBytes).filter((x): x is number => x !== undefined);
    if (ws.length > 0) pod.memoryWorkingSetBytes = ws.reduce((a, b) => a + b, 0);
  }
  return out;
}
