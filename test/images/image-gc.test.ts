// Image GC: upstream's arithmetic and order as pure functions (table style), then the runner
// against the simulated runtime: least recently used unused images go first, images in use, the
// sandbox image and images younger than the minimum age stay, a round that cannot free enough
// says FreeDiskSpaceFailed on the node (and ImageGCFailed when it fails again), and the eviction
// reclaim frees every unused image.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { bytesToFree, detectImages, planImageRemoval, type ImageRecord, type ListedImage } from '../../src/images/image-gc.js';
import { ImageGc } from '../../src/kubelet/image-gc.js';
import { createCriClient, InProcessCriTransport } from '../../src/native/cri/index.js';
import { silentLogger } from '../../src/log.js';
import { SimRuntime } from '../../src/sim/index.js';
import { imageFsUsage } from '../../src/stats/node-signals.js';
import { containerConfig, newPod, sandboxConfig } from '../helpers/cri-fixtures.js';

const Mi = 2 ** 20;
const policy = { highThresholdPercent: 85, lowThresholdPercent: 80, minAgeMs: 500 };

describe('image GC arithmetic and order', () => {
  it('frees down to the low threshold once usage reaches the high one', () => {
    const table: [capacity: number, available: number, want: number][] = [
      [1000, 200, 0], // 80 % used: below the high threshold
      [1000, 201, 0], // 79.9 % used
      [1000, 151, 49], // 84.9 % used counts as 85: upstream truncates the available share
      [1000, 150, 50], // 85 %: free to 80 % (200 available)
      [1000, 10, 190],
      [0, 0, 0],
    ];
    for (const [capacity, available, want] of table) assert.equal(bytesToFree(capacity, available, policy), want, `${capacity}/${available}`);
  });

  it('keeps what is in use, the sandbox image and young images; least recently used first', () => {
    const img = (id: string, sizeBytes: number, names: string[] = [`${id}:1`]): ListedImage => ({ id, names, sizeBytes, pinned: false });
    const images = [img('old', 10), img('older', 20), img('busy', 30), img('pause', 1, ['registry.k8s.io/pause:3.9']), img('fresh', 40)];
    const records = new Map<string, ImageRecord>();
    detectImages(records, images.slice(0, 4), new Set(['older']), 1000);
    detectImages(records, images.slice(0, 4), new Set(['old']), 2000);
    detectImages(records, images, new Set(['busy']), 3000);
    assert.deepEqual(records.get('old'), { firstDetected: 1000, lastUsed: 2000, sizeBytes: 10 });
    assert.deepEqual(records.get('older'), { firstDetected: 1000, lastUsed: 1000, sizeBytes: 20 });
    const all = planImageRemoval(records, images, new Set(['busy']), 'registry.k8s.io/pause:3.9', Infinity, 3200, 500);
    assert.deepEqual(
      all.remove.map((r) => r.id),
      ['older', 'old'],
    );
    assert.deepEqual(all.kept, { inUse: 1, pinned: 0, sandbox: 1, young: 1 });
    const some = planImageRemoval(records, images, new Set(['busy']), 'registry.k8s.io/pause:3.9', 15, 3200, 500);
    assert.deepEqual(
      some.remove.map((r) => r.id),
      ['older'],
      'stops once enough is freed',
    );
    const bb = [img('bb', 5, ['docker.io/library/busybox:1.35'])];
    const docker = planImageRemoval(detectImages(new Map(), bb, new Set(), 0), bb, new Set(), 'busybox:1.35', Infinity, 3200, 0);
    assert.deepEqual(docker.kept.sandbox, 1, "a Docker Hub short name names the same image as containerd's full one");
    detectImages(records, images.slice(1), new Set(), 4000);
    assert.equal(records.has('old'), false, 'an image gone from the runtime is forgotten');
  });
});

describe('image GC against the simulated runtime', () => {
  let now = 1000;
  const events: [string, string][] = [];
  const sim = new SimRuntime({
    seed: 3,
    images: [
      { name: 'docker.io/library/a:1', sizeBytes: 100 * Mi },
      { name: 'docker.io/library/b:1', sizeBytes: 200 * Mi },
      { name: 'docker.io/library/c:1', sizeBytes: 300 * Mi },
      { name: 'registry.k8s.io/pause:3.9', sizeBytes: Mi },
    ],
  });
  const cri = createCriClient(new InProcessCriTransport(sim, 'sim'), { runtimeRequestTimeoutMs: 10_000 });
  const gc = new ImageGc({
    cri,
    policy,
    sandboxImage: 'registry.k8s.io/pause:3.9',
    imageFs: () => imageFsUsage(cri, true),
    nodeEvent: (reason, message) => events.push([reason, message]),
    logger: silentLogger,
    now: () => now,
  });
  after(async () => {
    cri.close();
    await sim.close();
  });

  async function runWith(image: string): Promise<string> {
    const ref = newPod('gc');
    const sb = await sim.RunPodSandbox({ config: sandboxConfig(ref, '/tmp/kts-image-gc-logs'), runtimeHandler: '' } as never);
    const c = await sim.CreateContainer({
      podSandboxId: sb.podSandboxId,
      config: containerConfig(ref, 'app', image, ['sleep', '3600']),
      sandboxConfig: sandboxConfig(ref, '/tmp/kts-image-gc-logs'),
    } as never);
    return c.containerId ?? '';
  }

  const names = async (): Promise<string[]> =>
    ((await sim.ListImages({} as never)).images ?? [])
      .flatMap((i) => i.repoTags)
      .filter((n): n is string => n !== undefined)
      .sort();

  it('removes the least recently used unused image to reach the low threshold, keeps the rest', async () => {
    const usedEarlier: string = await runWith('docker.io/library/c:1');
    await runWith('docker.io/library/b:1');
    // 1000 MiB of image filesystem; with the 601 MiB of images, 200 MiB left: 80 % used, below the high threshold.
    sim.setNodeFigures({ imagefs: { capacityBytes: 1000 * Mi, availableBytes: 801 * Mi } });
    assert.deepEqual(await gc.round(), { wanted: 0, freed: 0, removed: [] }, 'below the high threshold a round only records');
    await sim.RemoveContainer({ containerId: usedEarlier });
    now = 2000;
    // 120 MiB left: 88 % used; 80 MiB to free to get back to 80 %.
    sim.setNodeFigures({ imagefs: { availableBytes: 721 * Mi } });
    const r = await gc.round();
    assert.equal(r?.wanted, 80 * Mi);
    assert.equal(r?.freed, 100 * Mi);
    assert.deepEqual(
      await names(),
      ['docker.io/library/b:1', 'docker.io/library/c:1', 'registry.k8s.io/pause:3.9'],
      'a (never used) went before c (used until now)',
    );
    assert.deepEqual(events, []);
  });

  it('says FreeDiskSpaceFailed when the unused images are not enough, ImageGCFailed when it fails again', async () => {
    await sim.PullImage({ image: { image: 'docker.io/library/young:1' } } as never);
    now = 2100;
    // 3000 MiB with 100 MiB left: 500 MiB to free, and only c (300 MiB) is unused and old enough.
    sim.setNodeFigures({ imagefs: { capacityBytes: 3000 * Mi, availableBytes: 605 * Mi } });
    const r = await gc.round();
    assert.equal(r, undefined);
    assert.equal(events[0]?.[0], 'FreeDiskSpaceFailed');
    assert.match(events[0]?.[1] ?? '', /^failed to garbage collect required amount of images\. Wanted to free \d+ bytes, but freed 314572800 bytes$/);
    assert.ok((await names()).includes('docker.io/library/young:1'), 'an image younger than the minimum age stays');
    assert.ok((await names()).includes('docker.io/library/b:1'), 'the image in use stays');
    assert.ok(!(await names()).includes('docker.io/library/c:1'), 'what could be freed was');
    await gc.round();
    assert.deepEqual(
      events.map((e) => e[0]),
      ['FreeDiskSpaceFailed', 'FreeDiskSpaceFailed', 'ImageGCFailed'],
    );
  });

  it("the eviction watcher's reclaim removes every unused image old enough", async () => {
    now = 10_000;
    const young = ((await sim.ListImages({} as never)).images ?? []).find((i) => i.repoTags?.includes('docker.io/library/young:1'));
    const freed = await gc.deleteUnused();
    assert.equal(freed, Number(young?.size), 'the pulled image, now old enough');
    assert.deepEqual(await names(), ['docker.io/library/b:1', 'registry.k8s.io/pause:3.9']);
  });
});
