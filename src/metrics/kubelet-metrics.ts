// The kubelet's own metrics under their upstream names and labels (subsystem "kubelet"), so
// existing dashboards and alerts work unchanged. Created once per prom-client Registry; the
// runtime operation metrics live with the CRI client (src/native/cri/metrics.ts).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Upstream's pod start buckets (seconds). */
export const POD_START_BUCKETS = [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600];
/** Prometheus default buckets, which upstream uses for the other kubelet histograms. */
export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface KubeletMetrics {
  podStartDuration: Histogram;
  podStartSliDuration: Histogram;
  podWorkerDuration: Histogram<'operation_type'>;
  podStatusSyncDuration: Histogram;
  plegRelistDuration: Histogram;
  plegRelistInterval: Histogram;
  plegDiscardEvents: Counter;
  plegLastSeen: Gauge;
  runningPods: Gauge;
  runningContainers: Gauge<'container_state'>;
  desiredPods: Gauge<'static'>;
  activePods: Gauge<'static'>;
  workingPods: Gauge<'lifecycle' | 'config' | 'static'>;
  mirrorPods: Gauge;
  startedPods: Counter;
  startedPodsErrors: Counter;
  startedContainers: Counter<'container_type'>;
  startedContainersErrors: Counter<'container_type' | 'code'>;
  restartedPods: Counter<'static'>;
  imagePullDuration: Histogram<'image_size_in_bytes'>;
  nodeName: Gauge<'node'>;
}

const cache = new WeakMap<Registry, KubeletMetrics>();

export function kubeletMetrics(registry: Registry): KubeletMetrics {
  const hit = cache.get(registry);
  if (hit) return hit;
  const registers = [registry];
  const m: KubeletMetrics = {
    podStartDuration: new Histogram({
      name: 'kubelet_pod_start_duration_seconds',
      help: 'Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run',
      buckets: POD_START_BUCKETS,
      registers,
    }),
    podStartSliDuration: new Histogram({
      name: 'kubelet_pod_start_sli_duration_seconds',
      help: 'Duration in seconds to start a pod, excluding time to pull images and run init containers, measured from pod creation timestamp to when all its containers are reported as started and observed via watch',
      buckets: POD_START_BUCKETS,
      registers,
    }),
    podWorkerDuration: new Histogram({
      name: 'kubelet_pod_worker_duration_seconds',
      help: 'Duration in seconds to sync a single pod. Broken down by operation type: create, update, or sync',
      labelNames: ['operation_type'],
      buckets: DEFAULT_BUCKETS,
      registers,
    }),
    podStatusSyncDuration: new Histogram({
      name: 'kubelet_pod_status_sync_duration_seconds',
      help: 'Duration in seconds to sync a pod status update. Measures time from detection of a change to pod status until the API is successfully updated for that pod, even if multiple intevening changes to pod status occur.',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 20, 30, 45, 60],
      registers,
    }),
    plegRelistDuration: new Histogram({
      name: 'kubelet_pleg_relist_duration_seconds',
      help: 'Duration in seconds for relisting pods in PLEG.',
      buckets: DEFAULT_BUCKETS,
      registers,
    }),
    plegRelistInterval: new Histogram({
      name: 'kubelet_pleg_relist_interval_seconds',
      help: 'Interval in seconds between relisting in PLEG.',
      buckets: DEFAULT_BUCKETS,
      registers,
    }),
    // Upstream exposes kubelet_pleg_discard_events; a counter without _total fails promtool's
    // lint, so we keep the name with the suffix promtool asks for.
    plegDiscardEvents: new Counter({ name: 'kubelet_pleg_discard_events_total', help: 'The number of discard events in PLEG.', registers }),
    plegLastSeen: new Gauge({ name: 'kubelet_pleg_last_seen_seconds', help: 'Timestamp in seconds when PLEG was last seen active.', registers }),
    runningPods: new Gauge({ name: 'kubelet_running_pods', help: 'Number of pods that have a running pod sandbox', registers }),
    runningContainers: new Gauge({
      name: 'kubelet_running_containers',
      help: 'Number of containers currently running',
      labelNames: ['container_state'],
      registers,
    }),
    desiredPods: new Gauge({
      name: 'kubelet_desired_pods',
      help: 'The number of pods the kubelet is being instructed to run. static is true if the pod is not from the apiserver.',
      labelNames: ['static'],
      registers,
    }),
    activePods: new Gauge({
      name: 'kubelet_active_pods',
      help: 'The number of pods the kubelet considers active and which are being considered when admitting new pods. static is true if the pod is not from the apiserver.',
      labelNames: ['static'],
      registers,
    }),
    workingPods: new Gauge({
      name: 'kubelet_working_pods',
      help: 'Number of pods the kubelet is actually running, broken down by lifecycle phase, whether the pod is desired, orphaned, or runtime only (also orphaned), and whether the pod is static.',
      labelNames: ['lifecycle', 'config', 'static'],
      registers,
    }),
    mirrorPods: new Gauge({
      name: 'kubelet_mirror_pods',
      help: 'The number of mirror pods the kubelet will try to create (one per admitted static pod)',
      registers,
    }),
    startedPods: new Counter({ name: 'kubelet_started_pods_total', help: 'Cumulative number of pods started', registers }),
    startedPodsErrors: new Counter({ name: 'kubelet_started_pods_errors_total', help: 'Cumulative number of errors when starting pods', registers }),
    startedContainers: new Counter({
      name: 'kubelet_started_containers_total',
      help: 'Cumulative number of containers started',
      labelNames: ['container_type'],
      registers,
    }),
    startedContainersErrors: new Counter({
      name: 'kubelet_started_containers_errors_total',
      help: 'Cumulative number of errors when starting containers',
      labelNames: ['container_type', 'code'],
      registers,
    }),
    restartedPods: new Counter({
      name: 'kubelet_restarted_pods_total',
      help: 'Number of pods that have been restarted because they were deleted and recreated with the same UID while the kubelet was watching them (common for static pods, extremely uncommon for API pods)',
      labelNames: ['static'],
      registers,
    }),
    imagePullDuration: new Histogram({
      name: 'kubelet_image_pull_duration_seconds',
      help: 'Duration in seconds to pull an image.',
      labelNames: ['image_size_in_bytes'],
      buckets: [0.5, 1, 5, 10, 20, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600],
      registers,
    }),
    nodeName: new Gauge({ name: 'kubelet_node_name', help: "The node's name. The count is always 1.", labelNames: ['node'], registers }),
  };
  cache.set(registry, m);
  return m;
}
