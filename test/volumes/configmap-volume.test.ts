// configMap volumes: data and binaryData as files, items, modes, optional, upstream's errors,
// on disk (not tmpfs), removed keys disappear on update.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, readFile, stat } from 'node:fs/promises';
import { readMountPoints } from '../../src/volumes/mounter.js';
import { FakeObjects } from './fake-objects.js';
import { join, volumePod, volumeRig, type VolumeTestRig } from './helpers.js';

describe('configMap volume', () => {
  let rig: VolumeTestRig;
  let now = 5_000_000;
  const objects = new FakeObjects();

  before(async () => {
    objects.configMap('ns1', 'app', {
      data: { 'app.properties': 'a=1\n', mode: 'fast' },
      binaryData: { 'logo.bin': Buffer.from([0, 1, 2, 255]).toString('base64') },
    });
    rig = await volumeRig({ objects, clock: { now: () => now }, objectCacheTtlMs: 1000 });
  });
  after(() => rig.close());

  it('writes data and binaryData under kubernetes.io~configmap/<name>, on disk', async () => {
    const pod = volumePod([{ name: 'cfg', configMap: { name: 'app' } }]);
    const r = await rig.vm.setUp(pod);
    assert.deepEqual(r.errors, []);
    const dir = join(rig.root, 'pods', pod.metadata.uid!, 'volumes', 'kubernetes.io~configmap', 'cfg');
    assert.equal(r.mounts.get('cfg'), dir);
    assert.equal(r.volumes['cfg']?.readOnly, true);
    assert.equal(await readFile(join(dir, 'app.properties'), 'utf8'), 'a=1\n');
    assert.deepEqual([...(await readFile(join(dir, 'logo.bin')))], [0, 1, 2, 255]);
    assert.equal((await readMountPoints()).includes(dir), false, 'configMaps are not on tmpfs');
  });

  it('items from data or binaryData, with modes; missing keys as upstream', async () => {
    const pod = volumePod([
      {
        name: 'c',
        configMap: {
          name: 'app',
          defaultMode: 0o440,
          items: [
            { key: 'mode', path: 'etc/mode' },
            { key: 'logo.bin', path: 'logo', mode: 0o755 },
          ],
        },
      },
    ]);
    const r = await rig.vm.setUp(pod);
    assert.deepEqual(r.errors, []);
    const dir = r.mounts.get('c')!;
    assert.equal(await readFile(join(dir, 'etc/mode'), 'utf8'), 'fast');
    assert.equal((await stat(join(dir, 'etc/mode'))).mode & 0o777, 0o440);
    assert.equal((await stat(join(dir, 'logo'))).mode & 0o777, 0o755);
    const bad = await rig.vm.setUp(volumePod([{ name: 'c', configMap: { name: 'app', items: [{ key: 'nope', path: 'x' }] } }]));
    assert.equal(bad.errors[0]?.message, 'MountVolume.SetUp failed for volume "c" : configmap references non-existent config key: nope');
    const missing = await rig.vm.setUp(volumePod([{ name: 'm', configMap: { name: 'foo' } }]));
    assert.equal(missing.errors[0]?.message, 'MountVolume.SetUp failed for volume "m" : configmap "foo" not found');
    const optional = await rig.vm.setUp(volumePod([{ name: 'm', configMap: { name: 'foo', optional: true } }]));
    assert.deepEqual(optional.errors, []);
  });

  it('an update swaps content in and removes keys that went away', async () => {
    const pod = volumePod([{ name: 'u', configMap: { name: 'app' } }]);
    const dir = (await rig.vm.setUp(pod)).mounts.get('u')!;
    objects.configMap('ns1', 'app', { data: { mode: 'slow' } });
    now += 1500;
    const r = await rig.vm.setUp(pod);
    assert.deepEqual(r.errors, []);
    assert.equal(await readFile(join(dir, 'mode'), 'utf8'), 'slow');
    await assert.rejects(lstat(join(dir, 'app.properties')));
    await assert.rejects(lstat(join(dir, 'logo.bin')));
  });

  it('a refresh that fails keeps the old content and is a warning, not an error', async () => {
    objects.configMap('ns1', 'app', { data: { mode: 'steady' } });
    now += 1;
    const pod = volumePod([{ name: 'w', configMap: { name: 'app' } }]);
    const dir = (await rig.vm.setUp(pod)).mounts.get('w')!;
    now += 1500;
    objects.failNext = 1;
    const r = await rig.vm.setUp(pod);
    assert.deepEqual(r.errors, []);
    assert.equal(r.warnings.length, 1);
    assert.equal(r.warnings[0]?.code, 'KTS_VOLUME_FETCH_FAILED');
    assert.equal(r.mounts.get('w'), dir, 'the volume stays mounted');
    assert.equal(await readFile(join(dir, 'mode'), 'utf8'), 'steady');
  });
});
