// What the kubelet HTTPS server reads (src/server/kubelet-server.ts KubeletBackend), from the
// pod workers and their runtime-state cache: /pods, /runningpods, container logs (by the pod's
// log folder and the container's restart count, as upstream), the targets of exec / attach /
// port-forward, the runtime's streaming URL, and the pods submitted over HTTP.
import type { Registry } from 'prom-client';
import type { Pod } from '../api/core-v1.js';
import type { KubeletConfig } from '../config/kubelet-config.js';
import { toConfigz } from '../config/kubelet-config.js';
import type { CriClient } from '../native/cri/index.js';
import { containerLogPath, podLogDirectory } from '../pods/cri-config.js';
import { containersNamed } from '../pods/runtime-state.js';
import type { KubeletBackend } from '../server/kubelet-server.js';
import { resolveContainerIn, resolveSandboxIn } from '../server/stream-targets.js';
import { criStreamUrl } from '../server/streaming.js';
import type { SubmitSource } from '../sources/submit-source.js';
import { joinUnder } from '../util/safe-path.js';
import type { PodWorkers } from '../actors/pod-workers/handle.js';
import type { ProbeActor } from '../actors/probes/handle.js';
import type { EvictionActor } from '../actors/eviction/handle.js';

export interface ServerBackendOptions {
  cfg: KubeletConfig;
  nodeName: string;
  workers: PodWorkers;
  probes: ProbeActor;
  /** Keeps the stats summary (its thread samples the node and the containers). */
  eviction: EvictionActor;
  registry: Registry;
  streamCri: CriClient;
  submitSource: SubmitSource;
  healthChecks: KubeletBackend['healthChecks'];
}

export function serverBackend(o: ServerBackendOptions): KubeletBackend {
  const { cfg, nodeName, workers, probes, registry, streamCri, submitSource } = o;
  const podsView = (): Pod[] => workers.all().map(({ pod, status }) => (status ? { ...pod, status } : pod));
  return {
    nodeName,
    pods: podsView,
    runningPods: () =>
      Promise.resolve(
        [...workers.cache.values()]
          .filter((s) => s.sandboxes.some((x) => x.ready))
          .map((s) => ({
            metadata: { name: s.name, namespace: s.namespace, uid: s.uid },
            spec: { containers: s.containers.filter((c) => c.state === 'running').map((c) => ({ name: c.name, image: c.image })) },
          })),
      ),
    registry,
    probeMetrics: () => probes.metricsText(),
    statsSummary: (onlyCpuAndMemory) => o.eviction.statsSummary(onlyCpuAndMemory),
    configz: () => toConfigz(cfg),
    containerLog: (ns, name, container, previous) => {
      const matches = workers.all().filter(({ pod }) => pod.metadata.namespace === ns && pod.metadata.name === name);
      // An edited static pod briefly has two instances: the new one is the one users mean.
      const entry = matches.find((m) => m.lifecycle === 'syncing') ?? matches[0];
      if (!entry) return Promise.resolve({ error: `pod ${ns}/${name} not found on this node`, status: 404 });
      const uid = entry.pod.metadata.uid ?? '';
      const state = workers.cache.get(uid);
      const runs = state ? containersNamed(state, container) : [];
      const run = previous ? runs[1] : runs[0];
      if (!run) {
        return Promise.resolve({
          error: previous
            ? `previous terminated container "${container}" in pod "${name}" not found`
            : `container "${container}" in pod "${name}" is waiting to start`,
          status: previous ? 404 : 400,
        });
      }
      let path: string;
      try {
        path = joinUnder(podLogDirectory(entry.pod, cfg.podLogsDir), containerLogPath(container, run.restartCount).split('/'));
      } catch (err) {
        return Promise.resolve({ error: (err as Error).message, status: 400 });
      }
      return Promise.resolve({
        path,
        running: () =>
          Promise.resolve(
            containersNamed(workers.cache.get(uid) ?? { uid, name, namespace: ns, sandboxes: [], containers: [] }, container)[0]?.state === 'running',
          ),
      });
    },
    resolveContainer: (ns, name, uid, container) => Promise.resolve(resolveContainerIn(workers.cache.values(), ns, name, uid, container)),
    resolveSandbox: (ns, name, uid) => Promise.resolve(resolveSandboxIn(workers.cache.values(), ns, name, uid)),
    streamUrl: (request) => criStreamUrl(streamCri, request),
    submit: {
      add: (text) => submitSource.submit(text),
      remove: (ns, name) => submitSource.remove(ns, name),
      list: () => submitSource.pods(),
    },
    healthChecks: o.healthChecks,
  };
}
