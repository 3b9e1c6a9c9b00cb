// Kubelet metrics keep their upstream names, types and labels.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { kubeletMetrics } from '../../src/metrics/kubelet-metrics.js';

describe('kubelet metrics', () => {
  it('registers the upstream names once per registry', async () => {
    const registry = new Registry();
    const m = kubeletMetrics(registry);
    assert.equal(kubeletMetrics(registry), m, 'cached per registry');
    m.podWorkerDuration.observe({ operation_type: 'create' }, 0.2);
    m.runningContainers.set({ container_state: 'running' }, 3);
    m.nodeName.set({ node: 'n1' }, 1);
    const text = await registry.metrics();
    for (const [name, type] of [
      ['kubelet_pod_start_duration_seconds', 'histogram'],
      ['kubelet_pod_worker_duration_seconds', 'histogram'],
      ['kubelet_pleg_relist_duration_seconds', 'histogram'],
      ['kubelet_pleg_relist_interval_seconds', 'histogram'],
      ['kubelet_running_pods', 'gauge'],
      ['kubelet_running_containers', 'gauge'],
      ['kubelet_started_pods_total', 'counter'],
      ['kubelet_started_containers_total', 'counter'],
      ['kubelet_pleg_last_seen_seconds', 'gauge'],
      ['kubelet_pleg_discard_events_total', 'counter'],
      ['kubelet_node_name', 'gauge'],
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
    }
    assert.match(text, /^kubelet_pod_worker_duration_seconds_bucket\{le="0.25",operation_type="create"\} 1$/m);
    assert.match(text, /^kubelet_running_containers\{container_state="running"\} 3$/m);
    assert.match(text, /^kubelet_node_name\{node="n1"\} 1$/m);
    assert.match(text, /^kubelet_pod_start_duration_seconds_bucket\{le="3600"\} 0$/m);
  });
});
