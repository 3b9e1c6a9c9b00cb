// What each pod uses, as the eviction ranking needs it: per container its memory working set and
// writable layer (CRI ListContainerStats, one call for the node), and its logs (the sizes of the
// files in the pod's log folder, as upstream's summary counts them). Grouped by the pod UID label
// the kubelet puts on every container. A failed ListContainerStats is a Reading error: the
// ranking then has no usage, and the logic still acts (pods without stats rank first, upstream).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CriClient } from '../native/cri/client.js';
import type { Reading } from '../native/stats/reading.js';
import type { ContainerUsage, PodUsage } from '../eviction/ranking.js';
import { LABEL_CONTAINER_NAME, LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID } from '../pods/runtime-state.js';

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
  walk(dir);
  return { bytes, inodes };
}

export interface PodUsageOptions {
  /** Where pod log folders live (<ns>_<name>_<uid>/<container>/N.log). */
  podLogsDir: string;
}

/** Usage per pod UID of the running containers the runtime reports. */
export async function readPodUsage(cri: CriClient, opts: PodUsageOptions): Promise<Reading<Map<string, PodUsage>>> {
  let stats;
  try {
    stats = (await cri.ListContainerStats({}, { timeoutMs: 10_000 })).stats;
  } catch (err) {
    return { ok: false, error: `ListContainerStats: ${(err as Error).message}` };
  }
  const out = new Map<string, PodUsage>();
  for (const s of stats) {
    const labels = s.attributes?.labels ?? {};
    const uid = labels[LABEL_POD_UID];
    const name = labels[LABEL_CONTAINER_NAME] ?? s.attributes?.metadata?.name;
    if (!uid || !name) continue;
    let pod = out.get(uid);
    if (!pod) {
      pod = { containers: [] };
      out.set(uid, pod);
    }
    const logs = folderUsage(join(opts.podLogsDir, `${labels[LABEL_POD_NAMESPACE] ?? ''}_${labels[LABEL_POD_NAME] ?? ''}_${uid}`, name));
    const c: ContainerUsage = { name, logsBytes: logs.bytes, logsInodes: logs.inodes };
    const ws = s.memory?.workingSetBytes?.value;
    if (ws !== undefined) {
      c.memoryWorkingSetBytes = Number(ws);
      pod.memoryWorkingSetBytes = (pod.memoryWorkingSetBytes ?? 0) + Number(ws);
    }
    const layer = s.writableLayer;
    if (layer?.usedBytes) c.rootfsBytes = Number(layer.usedBytes.value);
    if (layer?.inodesUsed) c.rootfsInodes = Number(layer.inodesUsed.value);
    // Several attempts of one container: the newest (listed last by the runtime) stands.
    const at = pod.containers.findIndex((x) => x.name === name);
    if (at >= 0) pod.containers[at] = c;
    else pod.containers.push(c);
  }
  return { ok: true, value: out };
}
