// The pod workers' `prepare` step, built on the volume manager: before each sync, set up the
// pod's volumes and resolve its containers' env. The answer is plain data (PreparedPod) that the
// sync task carries to a pool thread, where cri-config turns it into CRI mounts and envs.
//
//   volumes not ready -> { error: { reason: 'FailedMount' } }: the sync does not run, the pod
//                        worker retries after its error backoff; `onFailedMount` gets upstream's
//                        per-volume texts for FailedMount events;
//   env not resolvable -> that container's entry holds the error; the sync turns it into
//                        CreateContainerConfigError for that container only (as upstream);
//   service env        -> read once per pod (`serviceEnv`); when it fails (the service cache not
//                        yet synced) every container gets that error, as upstream, and the pod
//                        worker retries: no container starts without its service variables.
import type { Pod } from '../api/core-v1.js';
import { errorMessage } from './errors.js';
import { resolveContainerEnv, type EnvOptions } from './env.js';
import type { ContainerEnv, PreparedPod } from './prepared.js';
import type { NodeAllocatable } from './resources.js';
import type { VolumeFailure, VolumeManager } from './volume-manager.js';

export type { ContainerEnv, PreparedPod };

export type PrepareResult = { prepared: PreparedPod } | { error: { reason: 'FailedMount'; message: string } };

export interface PrepareOptions {
  /** Upstream's FailedMount event texts, one per volume (`MountVolume.SetUp failed for volume ...`). */
  onFailedMount?: (pod: Pod, failures: VolumeFailure[]) => void;
  /** Refresh failures on volumes already set up (their old content stays). */
  onWarnings?: (pod: Pod, warnings: VolumeFailure[]) => void;
  /** Skipped envFrom keys (upstream's InvalidEnvironmentVariableNames event). */
  onInvalidEnvNames?: (pod: Pod, container: string, skipped: { source: string; keys: string[] }[]) => void;
  /** Resolve env through the volume manager's object reader (default true). */
  resolveEnv?: boolean;
  nodeName?: string;
  hostIP?: string;
  nodeAllocatable?: NodeAllocatable;
  /** The pod's service environment variables; absent: none (a kubelet without an API server). */
  serviceEnv?: (pod: Pod) => Promise<Record<string, string>>;
}

export function podPrepare(vm: VolumeManager, opts: PrepareOptions = {}): (pod: Pod) => Promise<PrepareResult> {
  return async (pod) => {
    const r = await vm.setUp(pod);
    if (r.warnings.length > 0) opts.onWarnings?.(pod, r.warnings);
    if (r.errors.length > 0) {
      opts.onFailedMount?.(pod, r.errors);
      const names = r.errors.map((e) => e.volume).sort();
      return {
        error: {
          reason: 'FailedMount',
          message: `Unable to attach or mount volumes: unmounted volumes=[${names.join(' ')}]: ${r.errors.map((e) => e.message).join('; ')}`,
        },
      };
    }
    const prepared: PreparedPod = { volumes: r.volumes };
    if (opts.resolveEnv !== false) {
      const envOpts: EnvOptions = {
        node: opts.nodeAllocatable ?? vm.nodeAllocatable,
        ...(opts.nodeName === undefined ? {} : { nodeName: opts.nodeName }),
        ...(opts.hostIP === undefined ? {} : { hostIP: opts.hostIP }),
      };
      const reader = vm.readerFor(pod);
      const env: Record<string, ContainerEnv> = {};
      let serviceError: string | undefined;
      if (opts.serviceEnv) {
        try {
          prepared.serviceEnv = await opts.serviceEnv(pod);
        } catch (err) {
          serviceError = errorMessage(err);
        }
      }
      for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
        if (serviceError !== undefined) {
          env[c.name] = { error: serviceError };
          continue;
        }
        try {
          const resolved = await resolveContainerEnv(pod, c, reader, envOpts);
          if (resolved.skipped.length > 0) opts.onInvalidEnvNames?.(pod, c.name, resolved.skipped);
          env[c.name] = { entries: resolved.entries };
        } catch (err) {
          env[c.name] = { error: errorMessage(err) };
        }
      }
      prepared.env = env;
    }
    return { prepared };
  };
}
