// Opens a CRI runtime for a benchmark: a private managed containerd (images imported), the
// simulated runtime in-process or behind its unix socket, or any runtime at a given endpoint.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectCri, type CriClient } from '../../src/native/cri/index.js';

export const RUNTIME_KINDS = ['containerd', 'sim', 'sim-socket', 'endpoint'] as const;
export type RuntimeKind = (typeof RUNTIME_KINDS)[number];

export interface OpenRuntime {
  cri: CriClient;
  image: string;
  close(): Promise<void>;
}

const SIM_IMAGE = 'docker.io/library/busybox:1.35';

export async function openRuntime(
  kind: RuntimeKind,
  opts: { endpoint?: string | undefined; image?: string | undefined; stateDir?: string | undefined } = {},
): Promise<OpenRuntime> {
  switch (kind) {
    case 'endpoint': {
      if (!opts.endpoint) throw new Error('--endpoint unix:///PATH is needed');
      const cri = connectCri(opts.endpoint);
      return { cri, image: opts.image ?? SIM_IMAGE, close: () => Promise.resolve(cri.close()) };
    }
    case 'sim': {
      const { SimRuntime, createSimClient } = await import('../../src/sim/index.js');
      const sim = new SimRuntime({});
      const cri = createSimClient(sim, {});
      return {
        cri,
        image: opts.image ?? SIM_IMAGE,
        close: async () => {
          cri.close();
          await sim.close();
        },
      };
    }
    case 'sim-socket': {
      const { startSimRuntimeServer } = await import('../../src/sim/index.js');
      const dir = mkdtempSync(join(tmpdir(), 'kts-sim-'));
      const server = await startSimRuntimeServer({ listen: `unix://${join(dir, 'sim.sock')}` });
      const cri = connectCri(server.endpoint);
      return {
        cri,
        image: opts.image ?? SIM_IMAGE,
        close: async () => {
          cri.close();
          await server.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    case 'containerd': {
      const { ManagedContainerd, ensureImages } = await import('../../src/native/containerd/index.js');
      const stateDir = opts.stateDir ?? mkdtempSync('/var/lib/kts-bench-containerd-');
      const containerd = await ManagedContainerd.start({ stateDir });
      try {
        const images = await ensureImages({ endpoint: containerd.endpoint });
        const cri = connectCri(containerd.endpoint);
        return {
          cri,
          image: opts.image ?? images.busybox,
          close: async () => {
            cri.close();
            await containerd.stop({ removePods: true });
            if (!opts.stateDir) rmSync(stateDir, { recursive: true, force: true });
          },
        };
      } catch (err) {
        await containerd.stop({ removePods: true });
        throw err;
      }
    }
  }
}
