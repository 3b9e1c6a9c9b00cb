// The volume manager as a whole: one GET per object per TTL for many pods, fresh content for
// a new pod, idempotent cheap setUp, unsupported volumes, subPaths (made, escapes refused), the
// refresh timer, tearDown and orphans.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, symlink } from 'node:fs/promises';
import { FakeObjects } from './fake-objects.js';
import { join, volumePod, volumeRig, type VolumeTestRig } from './helpers.js';

describe('volume manager', () => {
  let rig: VolumeTestRig;
  let now = 10_000_000;
  const objects = new FakeObjects();

  before(async () => {
    objects.configMap('ns1', 'shared', { data: { k: 'v1' } });
    rig = await volumeRig({ objects, clock: { now: () => now }, objectCacheTtlMs: 5000, memoryBackedSecrets: false });
  });
  after(() => rig.close());

  it('100 pods of one configMap cost one GET; within the TTL resyncs cost none', async () => {
    const pods = Array.from({ length: 100 }, () => volumePod([{ name: 'c', configMap: { name: 'shared' } }]));
    const before = objects.calls.length;
    const results = await Promise.all(pods.map((p) => rig.vm.setUp(p)));
    assert.ok(results.every((r) => r.errors.length === 0));
    assert.equal(objects.calls.length - before, 1);
    now += 1000;
    await Promise.all(pods.map((p) => rig.vm.setUp(p)));
    assert.equal(objects.calls.length - before, 1, 'resyncs within the TTL read the cache');
    now += 5000;
    await Promise.all(pods.map((p) => rig.vm.setUp(p)));
    assert.equal(objects.calls.length - before, 2, 'after the TTL one GET again, shared by all');
    for (const p of pods) await rig.vm.tearDown(p.metadata.uid!);
  });

  it('a pod created after an update never starts on the cached old content', async () => {
    const a = volumePod([{ name: 'c', configMap: { name: 'shared' } }]);
    objects.configMap('ns1', 'shared', { data: { k: 'v2' } });
    now += 1;
    const dir = (await rig.vm.setUp(a)).mounts.get('c')!;
    assert.equal(await readFile(join(dir, 'k'), 'utf8'), 'v2', 'the first content is read after the pod was first seen');
  });

  it('refuses volume types it does not implement, by name', async () => {
    const r = await rig.vm.setUp(volumePod([{ name: 'pvc', persistentVolumeClaim: { claimName: 'data' } }]));
    assert.equal(r.errors[0]?.message, 'MountVolume.SetUp failed for volume "pvc" : volume type "persistentVolumeClaim" is not supported by kubelet-ts');
  });

  it('makes missing subPaths of writable volumes and refuses subPaths that escape', async () => {
    const outside = join(rig.root, 'outside');
    await mkdir(outside, { recursive: true });
    const pod = volumePod(
      [{ name: 'd', emptyDir: {} }],
      [{ name: 'app', image: 'busybox', volumeMounts: [{ name: 'd', mountPath: '/logs', subPath: 'app/logs' }] }],
    );
    const first = await rig.vm.setUp(pod);
    const dir = first.mounts.get('d')!;
    assert.ok((await stat(join(dir, 'app/logs'))).isDirectory(), 'missing subPath made, as upstream');
    // Something in the pod planted a symlink to the outside, and a container mounts it.
    await symlink(outside, join(dir, 'link'));
    pod.spec.containers[0]!.volumeMounts!.push({ name: 'd', mountPath: '/x', subPath: 'link' });
    const r = await rig.vm.setUp(pod);
    assert.match(r.volumes['d']?.subPathErrors?.['link'] ?? '', /^subpath ".*outside" not within volume path ".*"$/);
    assert.equal(r.volumes['d']?.subPathErrors?.['app/logs'], undefined);
  });

  it('the refresh timer brings updates to pods that do not sync', async () => {
    const fast = await volumeRig({ objects, refreshIntervalMs: 50, objectCacheTtlMs: 0, memoryBackedSecrets: false });
    try {
      const pod = volumePod([{ name: 'c', configMap: { name: 'shared' } }]);
      const dir = (await fast.vm.setUp(pod)).mounts.get('c')!;
      fast.vm.start();
      objects.configMap('ns1', 'shared', { data: { k: 'v3' } });
      const deadline = Date.now() + 5000;
      while ((await readFile(join(dir, 'k'), 'utf8')) !== 'v3') {
        assert.ok(Date.now() < deadline, 'the timer refreshed the volume');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await fast.close();
    }
  });

  it('tearDown removes the pod volumes; orphans from an earlier run are found on disk', async () => {
    const pod = volumePod([
      { name: 'e', emptyDir: {} },
      { name: 'c', configMap: { name: 'shared' } },
    ]);
    await rig.vm.setUp(pod);
    // A refresh queued behind the tear-down (the timer) must not bring the volumes back.
    const [, late] = await Promise.all([rig.vm.tearDown(pod.metadata.uid!), rig.vm.setUp(pod)]);
    assert.equal(late.errors[0]?.code, 'KTS_VOLUME_TORN_DOWN');
    await assert.rejects(stat(join(rig.root, 'pods', pod.metadata.uid!)));
    assert.equal(rig.vm.known().includes(pod.metadata.uid!), false);
    // An earlier kubelet left a pod folder behind.
    const stale = join(rig.root, 'pods', 'stale-uid', 'volumes', 'kubernetes.io~empty-dir', 'x');
    await mkdir(stale, { recursive: true });
    const keep = volumePod([{ name: 'e', emptyDir: {} }]);
    await rig.vm.setUp(keep);
    const removed = await rig.vm.tearDownOrphans(new Set([keep.metadata.uid!]));
    assert.deepEqual(removed, ['stale-uid']);
    await assert.rejects(stat(join(rig.root, 'pods', 'stale-uid')));
    assert.ok((await stat(join(rig.root, 'pods', keep.metadata.uid!))).isDirectory());
  });
});
