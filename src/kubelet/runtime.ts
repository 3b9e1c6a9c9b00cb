// The container runtime a kubelet runs on: a CRI endpoint it dials (checked with Version at
// start), the embedded simulated runtime in this process, or a managed containerd it starts
// (or adopts, after a restart) under the root dir. Also the main thread's own CRI client.
// Owns: opening and closing the runtime; not the actors' CRI connections (each thread has its own).
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { KubeletConfig } from '../config/kubelet-config.js';
import type { CriHandlers } from '../native/cri/api.js';
import { connectCri, createCriClient, InProcessCriTransport, type CriClient } from '../native/cri/index.js';
import type { SimRuntime } from '../sim/runtime.js';

export class KubeletStartError extends Error {
  readonly code = 'KTS_KUBELET_START';
}

export interface RuntimeHandle {
  spec: { endpoint: string; imageEndpoint?: string; name: string } | { embedded: CriHandlers; name: string };
  /** The embedded simulated runtime itself (chaos and benchmarks reach it through Kubelet.embeddedSim). */
  sim?: SimRuntime;
  /** 'leave': keep the runtime and its pods running (a restart adopts them); 'stop': tear down. */
  close(mode: 'leave' | 'stop'): Promise<void>;
  describe: string;
}

export async function openRuntime(config: KubeletConfig, log: Logger): Promise<RuntimeHandle> {
  if (config.containerRuntimeEndpoint) {
    const cri = connectCri(config.containerRuntimeEndpoint, { runtimeRequestTimeoutMs: 10_000 });
    try {
      const v = await cri.Version({ version: 'v1' });
      return {
        spec: {
          endpoint: config.containerRuntimeEndpoint,
          name: v.runtimeName,
          ...(config.imageServiceEndpoint ? { imageEndpoint: config.imageServiceEndpoint } : {}),
        },
        close: () => Promise.resolve(),
        describe: `${v.runtimeName} ${v.runtimeVersion} at ${config.containerRuntimeEndpoint}`,
      };
    } catch (err) {
      throw new KubeletStartError(`the container runtime at ${config.containerRuntimeEndpoint} does not answer: ${(err as Error).message}`);
    } finally {
      cri.close();
    }
  }
  if (config.kubeletTS.embeddedRuntime === 'sim') {
    const { SimRuntime } = await import('../sim/index.js');
    const sim = new SimRuntime({ logger: log });
    return { spec: { embedded: sim, name: 'sim' }, sim, close: () => sim.close(), describe: 'the embedded simulated runtime (its pods live in this process)' };
  }
  const { ManagedContainerd, ensureImages } = await import('../native/containerd/index.js');
  const mc = await ManagedContainerd.start({ stateDir: join(config.rootDir, 'containerd'), logger: log, sandboxImage: config.podInfraContainerImage });
  await ensureImages({ endpoint: mc.endpoint, logger: log });
  // On a normal shutdown managed containerd is left running with its pods (detached); the next
  // start adopts it, so a kubelet restart restarts no container.
  return {
    spec: { endpoint: mc.endpoint, name: 'containerd' },
    close: async (mode) => {
      if (mode === 'leave') mc.detach();
      else await mc.stop({ removePods: true });
    },
    describe: `managed containerd at ${mc.endpoint}`,
  };
}

/** A CRI client on the main thread (node health, the image list, streaming URLs). */
/** The simulated runtime, embedded ('sim') or behind a socket ('kubelet-ts-sim'): its node is simulated, its pods run no processes. */
export function isSimRuntime(name: string): boolean {
  return name === 'sim' || name === 'kubelet-ts-sim'; // (sim/runtime.ts SIM_RUNTIME_NAME, literal here so the sim is not loaded)
}

export function mainThreadCri(runtime: RuntimeHandle, cfg: KubeletConfig, withImageEndpoint: boolean): CriClient {
  if ('embedded' in runtime.spec)
    return createCriClient(new InProcessCriTransport(runtime.spec.embedded, runtime.spec.name), { runtimeRequestTimeoutMs: cfg.runtimeRequestTimeout });
  return connectCri(runtime.spec.endpoint, {
    runtimeRequestTimeoutMs: cfg.runtimeRequestTimeout,
    ...(withImageEndpoint && runtime.spec.imageEndpoint ? { imageEndpoint: runtime.spec.imageEndpoint } : {}),
  });
}
