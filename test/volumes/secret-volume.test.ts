// secret volumes through the volume manager: keys as files (base64-decoded), items with paths
// and modes, defaultMode, optional, upstream's errors, and tmpfs backing (never on disk).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readlink, stat } from 'node:fs/promises';
import { readMountPoints } from '../../src/volumes/mounter.js';
import { FakeObjects } from './fake-objects.js';
import { join, volumePod, volumeRig, type VolumeTestRig } from './helpers.js';

describe('secret volume', () => {
  let rig: VolumeTestRig;
  const objects = new FakeObjects();

  before(async () => {
    objects.secret('ns1', 'db', { username: 'admin', password: 's3cr3t' });
    rig = await volumeRig({ objects });
  });
  after(() => rig.close());

  it('writes every key under kubernetes.io~secret/<name>, decoded, 0644, on tmpfs', async () => {
    const pod = volumePod([{ name: 'creds', secret: { secretName: 'db' } }]);
    const r = await rig.vm.setUp(pod);
    assert.deepEqual(r.errors, []);
    const dir = join(rig.root, 'pods', pod.metadata.uid!, 'volumes', 'kubernetes.io~secret', 'creds');
    assert.deepEqual(r.volumes['creds'], { hostPath: dir, readOnly: true });
    assert.equal(r.mounts.get('creds'), dir);
    assert.equal(await readFile(join(dir, 'password'), 'utf8'), 's3cr3t');
    assert.equal(await readlink(join(dir, 'username')), '..data/username');
    assert.equal((await stat(join(dir, 'username'))).mode & 0o777, 0o644);
    assert.ok((await readMountPoints()).includes(dir), 'secret volumes live on tmpfs, as upstream');
  });

  it('items pick keys, paths and modes; defaultMode applies to the rest', async () => {
    const pod = volumePod([
      {
        name: 'picked',
        secret: {
          secretName: 'db',
          defaultMode: 0o400,
          items: [
            { key: 'username', path: 'conf/user' },
            { key: 'password', path: 'pw', mode: 0o600 },
          ],
        },
      },
    ]);
    const r = await rig.vm.setUp(pod);
    assert.deepEqual(r.errors, []);
    const dir = r.mounts.get('picked')!;
    assert.equal(await readFile(join(dir, 'conf/user'), 'utf8'), 'admin');
    assert.equal((await stat(join(dir, 'conf/user'))).mode & 0o777, 0o400);
    assert.equal((await stat(join(dir, 'pw'))).mode & 0o777, 0o600);
    await assert.rejects(stat(join(dir, 'username')), 'keys not in items are not written');
  });

  it('a missing secret is an error with upstream words, and nothing is mounted', async () => {
    const pod = volumePod([{ name: 'gone', secret: { secretName: 'foo' } }]);
    const r = await rig.vm.setUp(pod);
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0]?.code, 'KTS_VOLUME_OBJECT_NOT_FOUND');
    assert.equal(r.errors[0]?.message, 'MountVolume.SetUp failed for volume "gone" : secret "foo" not found');
    assert.equal(r.mounts.has('gone'), false);
    await assert.rejects(stat(join(rig.root, 'pods', pod.metadata.uid!, 'volumes', 'kubernetes.io~secret', 'gone')));
  });

  it('an optional missing secret is an empty volume; a missing items key is an error unless optional', async () => {
    const pod = volumePod([{ name: 'opt', secret: { secretName: 'foo', optional: true } }]);
    const r = await rig.vm.setUp(pod);
    assert.deepEqual(r.errors, []);
    assert.ok(r.mounts.has('opt'));
    const badKey = volumePod([{ name: 'k', secret: { secretName: 'db', items: [{ key: 'nope', path: 'x' }] } }]);
    const r2 = await rig.vm.setUp(badKey);
    assert.equal(r2.errors[0]?.message, 'MountVolume.SetUp failed for volume "k" : references non-existent secret key: nope');
    const optKey = volumePod([
      {
        name: 'k',
        secret: {
          secretName: 'db',
          optional: true,
          items: [
            { key: 'nope', path: 'x' },
            { key: 'username', path: 'u' },
          ],
        },
      },
    ]);
    const r3 = await rig.vm.setUp(optKey);
    assert.deepEqual(r3.errors, []);
    assert.equal(await readFile(join(r3.mounts.get('k')!, 'u'), 'utf8'), 'admin');
  });

  it('an update of the secret reaches the volume on the next setUp after the cache TTL', async () => {
    const pod = volumePod([{ name: 'live', secret: { secretName: 'db' } }]);
    let now = 1_000_000;
    const clockRig = await volumeRig({ objects, clock: { now: () => now }, objectCacheTtlMs: 1000 });
    try {
      const dir = (await clockRig.vm.setUp(pod)).mounts.get('live')!;
      objects.secret('ns1', 'db', { username: 'root', password: 's3cr3t' });
      await clockRig.vm.setUp(pod);
      assert.equal(await readFile(join(dir, 'username'), 'utf8'), 'admin', 'within the TTL the cached secret serves');
      now += 1001;
      await clockRig.vm.setUp(pod);
      assert.equal(await readFile(join(dir, 'username'), 'utf8'), 'root');
    } finally {
      objects.secret('ns1', 'db', { username: 'admin', password: 's3cr3t' });
      await clockRig.close();
    }
  });

  it('without an object source (standalone) the error says so', async () => {
    const standalone = await volumeRig();
    try {
      const r = await standalone.vm.setUp(volumePod([{ name: 's', secret: { secretName: 'db' } }]));
      assert.equal(r.errors[0]?.code, 'KTS_VOLUME_NO_OBJECT_SOURCE');
      assert.match(r.errors[0]?.message ?? '', /couldn't get secret ns1\/db, no kubeClient defined/);
    } finally {
      await standalone.close();
    }
  });
});
