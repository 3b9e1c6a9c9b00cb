// CRI call metrics under the upstream kubelet names, so dashboards built for the Go kubelet
// read ours unchanged: kubelet_runtime_operations_total, kubelet_runtime_operations_errors_total
// and kubelet_runtime_operations_duration_seconds, each labelled by `operation_type` with the
// upstream operation spelling (run_podsandbox, create_container, ...). Buckets as upstream:
// exponential from 5 ms, factor 2.5, 14 buckets.
import { Counter, Histogram, exponentialBuckets, type Registry } from 'prom-client';

export interface CriMetrics {
  operations: Counter<'operation_type'>;
  errors: Counter<'operation_type'>;
  duration: Histogram<'operation_type'>;
}

const cache = new WeakMap<Registry, CriMetrics>();

/** The CRI metrics registered in `registry` (created on first use; one set per registry). */
export function criMetrics(registry: Registry): CriMetrics {
  const existing = cache.get(registry);
  if (existing) return existing;
  const metrics: CriMetrics = {
    operations: new Counter({
      name: 'kubelet_runtime_operations_total',
      help: 'Cumulative number of runtime operations by operation type.',
      labelNames: ['operation_type'],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'kubelet_runtime_operations_errors_total',
      help: 'Cumulative number of runtime operation errors by operation type.',
      labelNames: ['operation_type'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'kubelet_runtime_operations_duration_seconds',
      help: 'Duration in seconds of runtime operations. Broken down by operation type.',
      labelNames: ['operation_type'],
      buckets: exponentialBuckets(0.005, 2.5, 14),
      registers: [registry],
    }),
  };
  cache.set(registry, metrics);
  return metrics;
}
