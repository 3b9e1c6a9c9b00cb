// A private managed containerd for a test file: its own state folder, bridge and subnet (so two
// test files never collide), images imported. Fails with a clear message when containerd cannot
// run here, never skips.
import { mkdtempSync, rmSync } from 'node:fs';
import { ManagedContainerd, ensureImages, type ManagedContainerdOptions } from '../../src/native/containerd/index.js';

export interface ContainerdFixture {
  containerd: ManagedContainerd;
  busybox: string;
  pause: string;
  /** The pod subnet of this instance's CNI bridge (IPv4 CIDR). */
  podSubnet: string;
  close(): Promise<void>;
}

let seq = 0;

export async function startTestContainerd(extra: Partial<ManagedContainerdOptions> = {}): Promise<ContainerdFixture> {
  // Under /var/lib (a real filesystem: overlayfs snapshots need one), one per test file.
  const stateDir = mkdtempSync('/var/lib/kts-test-containerd-');
  const n = (process.pid + seq++) % 200;
  const podSubnet = extra.podSubnet ?? `10.${100 + (n % 50)}.${Math.floor(n / 50)}.0/24`;
  const containerd = await ManagedContainerd.start({
    stateDir,
    bridgeName: `ktst${n}`,
    podSubnet,
    networkName: `kts-test-${n}`,
    ...extra,
  });
  try {
    const images = await ensureImages({ endpoint: containerd.endpoint });
    return {
      containerd,
      ...images,
      podSubnet,
      close: async () => {
        await containerd.stop({ removePods: true });
        rmSync(stateDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await containerd.stop({ removePods: true });
    rmSync(stateDir, { recursive: true, force: true });
    throw err;
  }
}
