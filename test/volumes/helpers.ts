// Pods and a temp root dir for the volume tests; tearDown of every pod a test set up.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Container, Pod, Volume } from '../../src/api/core-v1.js';
import { VolumeManager, type VolumeManagerOptions } from '../../src/volumes/volume-manager.js';

let seq = 0;

export function volumePod(volumes: Volume[], containers?: Container[], extra: Partial<Pod['metadata']> = {}): Pod {
  seq++;
  return {
    metadata: { name: `vol-${seq}`, namespace: 'ns1', uid: `uid-vol-${seq}-${process.pid}`, ...extra },
    spec: {
      volumes,
      containers: containers ?? [{ name: 'app', image: 'busybox:1.35', volumeMounts: volumes.map((v) => ({ name: v.name, mountPath: `/mnt/${v.name}` })) }],
    },
  };
}

export interface VolumeTestRig {
  root: string;
  vm: VolumeManager;
  close(): Promise<void>;
}

/** A volume manager on a fresh root dir (under /var/lib: a real filesystem); close tears every pod down. */
export async function volumeRig(opts: Omit<VolumeManagerOptions, 'rootDir'> = {}): Promise<VolumeTestRig> {
  const root = await mkdtemp(join(process.getuid?.() === 0 ? '/var/lib' : tmpdir(), 'kts-vol-test-'));
  const vm = new VolumeManager({ rootDir: root, ...opts });
  return {
    root,
    vm,
    close: async () => {
      vm.stop();
      for (const uid of vm.known()) await vm.tearDown(uid);
      await vm.tearDownOrphans(new Set());
      await rm(root, { recursive: true, force: true });
    },
  };
}

export { join };
