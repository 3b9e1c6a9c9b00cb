// V8 heap limits for the kubelet's worker threads. Every worker is an isolate of its own, and V8
// lets each one's young generation grow to 32 MB of semi-spaces (2 x 16 MB) under allocation
// pressure, and keeps it committed: with five isolates that was about 150 MB of the kubelet's
// 320 MB RSS at 300 pods, more than all their old generations together (measured with
// kubelet_ts_thread_heap_bytes{kind="young"}). The workers' work is short-lived garbage (CRI
// replies, status objects), which a small young generation collects as well, at the cost of more
// frequent (each cheaper) scavenges. The main thread's own young generation can only be set by
// Node's --max-semi-space-size at process start (see the `kubelet-ts` command).
import type { ResourceLimits } from 'node:worker_threads';

/** Young generation of each worker, MB (both semi-spaces). */
export const WORKER_YOUNG_GENERATION_MB = 8;

/**
 * resourceLimits for a kubelet worker thread. KUBELET_TS_WORKER_YOUNG_MB overrides the young
 * generation size (0: V8's default) for measurements; the old generation is not capped (a cap
 * kills the thread when 1000 pods need more, which is worse than the memory).
 */
export function workerResourceLimits(env: NodeJS.ProcessEnv = process.env): ResourceLimits {
  const raw = env.KUBELET_TS_WORKER_YOUNG_MB;
  const mb = raw !== undefined && raw !== '' && Number.isFinite(Number(raw)) && Number(raw) >= 0 ? Number(raw) : WORKER_YOUNG_GENERATION_MB;
  return mb > 0 ? { maxYoungGenerationSizeMb: mb } : {};
}
