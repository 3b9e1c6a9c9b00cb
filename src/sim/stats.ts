// ContainerStats for a simulated container: figures that are plausible and stable per container
// (derived from its ID), so dashboards and the eviction logic see believable, varied numbers:
// 1-50 millicores of CPU accumulated over its run time, an 8-64 MiB working set, a small
// writable layer. CPU and memory only while it runs, as a runtime reports no task metrics after.
import type { ContainerStats } from '../gen/cri/runtime/v1/ContainerStats.js';
import type { PodUsageOverride } from './node-figures.js';
import { hash32, type Container } from './objects.js';

/** `override` (node-figures.ts: set through the control API) replaces the derived figures it names. */
export function containerStats(c: Container, nowMs: number, imageFsMountpoint: string, override?: PodUsageOverride): ContainerStats {
  const h = hash32(c.id);
  const now = nowMs;
  const ts = Math.round(nowMs * 1e6);
  const running = c.state === 'CONTAINER_RUNNING';
  // Plausible and stable per container: 1-50 millicores, 8-64 MiB working set.
  const millicores = 1 + (h % 50);
  const ranMs = c.startedMs > 0 ? (running ? now : c.finishedAt / 1e6) - c.startedMs : 0;
  const stats: ContainerStats = {
    attributes: { id: c.id, metadata: c.config.metadata, labels: c.config.labels, annotations: c.config.annotations },
    writableLayer: {
      timestamp: ts,
      fsId: { mountpoint: `${imageFsMountpoint}/snapshots/${c.id.slice(0, 12)}` },
      usedBytes: { value: override?.writableLayerBytes ?? 4096 * (1 + (h % 256)) },
      inodesUsed: { value: override?.writableLayerInodes ?? 1 + (h % 64) },
    },
  };
  if (running) {
    stats.cpu = { timestamp: ts, usageCoreNanoSeconds: { value: Math.max(0, Math.round(ranMs * 1e3 * millicores)) } };
    stats.memory = { timestamp: ts, workingSetBytes: { value: override?.workingSetBytes ?? (8 + ((h >>> 8) % 57)) * 1024 * 1024 } };
  }
  return stats;
}
