// What a pod needs on this thread before its sync goes to the pool: its cgroup (QoS tier and
// limits, before the sandbox names it as its parent), its volumes (secrets, configMaps,
// projected tokens, emptyDirs: the volume manager) and its env (service links, the downward
// API). Failures become pod events (FailedMount, InvalidEnvironmentVariableNames).
// Owns: the volume manager and the prepare function the pod workers call.
import type { Logger } from 'pino';
import type { Pod } from '../api/core-v1.js';
import type { KubeletConfig } from '../config/kubelet-config.js';
import type { ClusterMode } from '../cluster/cluster.js';
import type { QosCgroupManager } from '../native/cgroups.js';
import { podCgroupConfig, podCgroupParent } from '../pods/resources.js';
import { quantityValue } from '../volumes/resources.js';
import { VolumeManager } from '../volumes/volume-manager.js';
import { ApiVolumeObjectSource } from '../volumes/objects.js';
import { podPrepare, type PrepareResult } from '../volumes/prepare.js';
import { ServicesNotSyncedError } from '../volumes/errors.js';
import type { NodeFacts } from './node-facts.js';
import type { PublishPodEvent } from './pod-events.js';

export interface PodPreparation {
  volumes: VolumeManager;
  prepare: (pod: Pod) => Promise<PrepareResult>;
}

export function podPreparation(d: {
  cfg: KubeletConfig;
  facts: NodeFacts;
  cgroups: QosCgroupManager | undefined;
  /** Cluster mode, bound late: the API client exists only once it started (before any source delivers a pod). */
  cluster: () => ClusterMode | undefined;
  publishPodEvent: PublishPodEvent;
  logger: Logger;
}): PodPreparation {
  const { cfg, facts } = d;
  const log = d.logger;
  const apiObjects = (): ApiVolumeObjectSource => {
    const cluster = d.cluster();
    if (!cluster) throw new Error("couldn't read the object: the API server client is not ready");
    return new ApiVolumeObjectSource(cluster.client);
  };
  const alloc = facts.allocatable;
  const volumes = new VolumeManager({
    rootDir: cfg.rootDir,
    logger: log,
    // resourceFieldRef limits a container does not set read as the node's allocatable, the one the Node reports (upstream).
    nodeAllocatable: {
      cpu: quantityValue(alloc['cpu'] ?? '0'),
      memory: quantityValue(alloc['memory'] ?? '0'),
      ephemeralStorage: quantityValue(alloc['ephemeral-storage'] ?? '0'),
    },
    // Secrets and configMaps are re-read on the pod resync period, as upstream (sync-frequency).
    refreshIntervalMs: cfg.syncFrequency,
    ...(cfg.kubeconfig
      ? {
          objects: {
            getSecret: (ns: string, name: string) => apiObjects().getSecret(ns, name),
            getConfigMap: (ns: string, name: string) => apiObjects().getConfigMap(ns, name),
            requestToken: (ns: string, sa: string, req: Parameters<ApiVolumeObjectSource['requestToken']>[2]) => apiObjects().requestToken(ns, sa, req),
          },
        }
      : {}),
  });
  const hostIP = facts.nodeIPs[0];
  const prepareVolumesAndEnv = podPrepare(volumes, {
    nodeName: facts.nodeName,
    ...(hostIP ? { hostIP } : {}),
    // Service links come from the API server's Services; a kubelet without one injects none.
    ...(cfg.kubeconfig
      ? {
          serviceEnv: (pod: Pod) => {
            const cluster = d.cluster();
            return cluster ? cluster.serviceEnv(pod) : Promise.reject(new ServicesNotSyncedError());
          },
        }
      : {}),
    onFailedMount: (pod, failures) => {
      for (const f of failures) {
        log.warn({ pod: `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`, volume: f.volume, err: f.message }, 'FailedMount');
        d.publishPodEvent(pod, { type: 'Warning', reason: 'FailedMount', message: f.message });
      }
    },
    onInvalidEnvNames: (pod, container, skipped) => {
      for (const s of skipped)
        d.publishPodEvent(pod, {
          type: 'Warning',
          reason: 'InvalidEnvironmentVariableNames',
          message: `Keys [${s.keys.join(', ')}] from the EnvFrom ${s.source} were skipped since they are considered invalid environment variable names.`,
          container: { name: container, init: false },
        });
    },
  });
  return {
    volumes,
    prepare: (pod) => {
      const cgErrors = d.cgroups?.ensurePod(pod.metadata.uid ?? '', podCgroupParent(pod, cfg.cgroupRoot, true), podCgroupConfig(pod)) ?? [];
      if (cgErrors.length > 0) log.warn({ pod: `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`, errors: cgErrors }, 'pod cgroup not fully set up');
      return prepareVolumesAndEnv(pod);
    },
  };
}
