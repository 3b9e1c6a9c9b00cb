// CRI calls made on other threads (sync pool, PLEG) counted in the process's one registry under
// the upstream runtime metric names: each thread batches its calls and posts them on a
// BroadcastChannel every 250 ms; the main thread records them. Plain numbers cross, no objects.
import { BroadcastChannel } from 'node:worker_threads';
import type { Registry } from 'prom-client';
import { criMetrics } from './metrics.js';

const CHANNEL = 'kubelet-ts:cri-calls';

type Batch = { kts: 'cri-calls'; calls: [operation: string, seconds: number, failed: 0 | 1][] };

/** In a worker thread: an `onCall` for createCriClient that forwards to the main thread. */
export function forwardCriCalls(): (operation: string, seconds: number, failed: boolean) => void {
  const channel = new BroadcastChannel(CHANNEL);
  channel.unref();
  let batch: Batch['calls'] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    if (batch.length === 0) return;
    channel.postMessage({ kts: 'cri-calls', calls: batch } satisfies Batch);
    batch = [];
  };
  return (operation, seconds, failed) => {
    batch.push([operation, seconds, failed ? 1 : 0]);
    if (batch.length >= 512) flush();
    else if (!timer) {
      timer = setTimeout(flush, 250);
      timer.unref();
    }
  };
}

/** In the main thread: records forwarded calls into `registry`. Returns a closer. */
export function collectCriCalls(registry: Registry): () => void {
  const m = criMetrics(registry);
  const channel = new BroadcastChannel(CHANNEL);
  channel.unref();
  channel.onmessage = (event: unknown) => {
    const b = (event as { data?: Partial<Batch> }).data;
    if (b?.kts !== 'cri-calls' || !Array.isArray(b.calls)) return;
    for (const c of b.calls) {
      if (!Array.isArray(c) || typeof c[0] !== 'string' || typeof c[1] !== 'number') continue;
      m.operations.inc({ operation_type: c[0] });
      m.duration.observe({ operation_type: c[0] }, c[1]);
      if (c[2] === 1) m.errors.inc({ operation_type: c[0] });
    }
  };
  return () => channel.close();
}
