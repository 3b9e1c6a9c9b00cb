// The prober metrics, as upstream serves them on /metrics/probes: prober_probe_total (per
// result) and prober_probe_duration_seconds, with upstream's label names and values
// (probe_type Liveness/Readiness/Startup; result successful/failed/unknown). They live in the
// probe thread, in a registry of their own; the main thread asks for the text over comlink.
// Series of a container whose probe worker is gone are deleted, as upstream does, so pod churn
// does not grow the registry without bound.
import { Counter, Histogram, Registry } from 'prom-client';
import type { ProbeKind } from './spec.js';
import { probeKindName } from './spec.js';

export interface ProbeSeries {
  kind: ProbeKind;
  container: string;
  pod: string;
  namespace: string;
  podUid: string;
}

export class ProberMetrics {
  readonly registry = new Registry();
  private readonly total: Counter<'probe_type' | 'result' | 'container' | 'pod' | 'namespace' | 'pod_uid'>;
  private readonly duration: Histogram<'probe_type' | 'container' | 'pod' | 'namespace'>;

  constructor() {
    this.total = new Counter({
      name: 'prober_probe_total',
      help: 'Cumulative number of a liveness, readiness or startup probe for a container by result.',
      labelNames: ['probe_type', 'result', 'container', 'pod', 'namespace', 'pod_uid'],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: 'prober_probe_duration_seconds',
      help: 'Duration in seconds for a probe response.',
      labelNames: ['probe_type', 'container', 'pod', 'namespace'],
      registers: [this.registry],
    });
  }

  observe(s: ProbeSeries, result: 'success' | 'failure' | 'warning' | 'unknown', seconds: number): void {
    const r = result === 'failure' ? 'failed' : result === 'unknown' ? 'unknown' : 'successful';
    // Keys in upstream's label order: prom-client prints them in the order first seen.
    this.total.inc({ probe_type: probeKindName(s.kind), result: r, container: s.container, pod: s.pod, namespace: s.namespace, pod_uid: s.podUid });
    this.duration.observe({ probe_type: probeKindName(s.kind), container: s.container, pod: s.pod, namespace: s.namespace }, seconds);
  }

  forget(s: ProbeSeries): void {
    const base = { probe_type: probeKindName(s.kind), container: s.container, pod: s.pod, namespace: s.namespace };
    for (const result of ['successful', 'failed', 'unknown']) this.total.remove({ ...base, result, pod_uid: s.podUid });
    this.duration.remove(base);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
