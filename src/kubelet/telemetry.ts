// The kubelet's metrics registry: Node's process metrics (minus three gauges whose _total names
// fail promtool's lint; the same values are exported by type without the suffix), the upstream
// kubelet metrics, the CRI call counts gathered from every thread, and CPU and event-loop delay
// per kubelet thread. Owns: the registry and the collectors it stops.
import { Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { kubeletMetrics, type KubeletMetrics } from '../metrics/kubelet-metrics.js';
import { collectCriCalls } from '../native/cri/call-metrics.js';
import { collectThreadStats, reportThreadStats, type ThreadSnapshot } from '../native/thread-stats.js';

export interface Telemetry {
  registry: Registry;
  metrics: KubeletMetrics;
  threads: () => ThreadSnapshot[];
  stop(): void;
}

const LINT_FAILING = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function startTelemetry(nodeName: string): Telemetry {
  const registry = new Registry();
  const defaults = new Registry();
  collectDefaultMetrics({ register: defaults });
  for (const m of defaults.getMetricsAsArray()) {
    if (!LINT_FAILING.includes((m as unknown as { name: string }).name)) registry.registerMetric(m as unknown as Metric);
  }
  const metrics = kubeletMetrics(registry);
  metrics.nodeName.set({ node: nodeName }, 1);
  const stopCollecting = collectCriCalls(registry);
  const threadStats = collectThreadStats(registry);
  const stopMainStats = reportThreadStats('main');
  return {
    registry,
    metrics,
    threads: () => threadStats.snapshot(),
    stop: () => {
      stopCollecting();
      threadStats.close();
      stopMainStats();
    },
  };
}
