// emptyDir volumes: a 0777 folder on disk; medium Memory is a real tmpfs mount (checked in
// /proc/mounts) with size = sizeLimit; tearDown unmounts and removes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { readMountPoints } from '../../src/volumes/mounter.js';
import { join, volumePod, volumeRig, type VolumeTestRig } from './helpers.js';

async function mountLine(dir: string): Promise<string | undefined> {
  return (await readFile('/proc/mounts', 'utf8')).split('\n').find((l) => l.split(' ')[1] === dir);
}

describe('emptyDir volume', () => {
  let rig: VolumeTestRig;

  before(async () => {
    rig = await volumeRig();
  });
  after(() => rig.close());

  it('is a 0777 folder under kubernetes.io~empty-dir on disk, no object source needed', async () => {
    const pod = volumePod([{ name: 'scratch', emptyDir: {} }, { name: 'defaulted' }]);
    const r = await rig.vm.setUp(pod);
    assert.deepEqual(r.errors, []);
    const dir = join(rig.root, 'pods', pod.metadata.uid!, 'volumes', 'kubernetes.io~empty-dir', 'scratch');
    assert.deepEqual(r.volumes['scratch'], { hostPath: dir, readOnly: false });
    assert.equal((await stat(dir)).mode & 0o777, 0o777);
    assert.equal(await mountLine(dir), undefined);
    assert.ok(r.mounts.get('defaulted')?.endsWith('kubernetes.io~empty-dir/defaulted'), 'a volume without a source is an emptyDir (API defaulting)');
  });

  it('medium Memory mounts a tmpfs with the sizeLimit, and tearDown unmounts it', async () => {
    const pod = volumePod([
      { name: 'mem', emptyDir: { medium: 'Memory', sizeLimit: '8Mi' } },
      { name: 'mem2', emptyDir: { medium: 'Memory' } },
    ]);
    const r = await rig.vm.setUp(pod);
    assert.deepEqual(r.errors, []);
    const dir = r.mounts.get('mem')!;
    const line = await mountLine(dir);
    assert.ok(line, `${dir} is in /proc/mounts`);
    assert.match(line, /^tmpfs \S+ tmpfs /);
    assert.match(line, /size=8192k/);
    assert.ok(await mountLine(r.mounts.get('mem2')!), 'without sizeLimit still tmpfs');
    await writeFile(join(dir, 'f'), 'in memory');
    // Idempotent: a second setUp does not stack another mount.
    await rig.vm.setUp(pod);
    assert.equal((await readMountPoints()).filter((p) => p === dir).length, 1);
    await rig.vm.tearDown(pod.metadata.uid!);
    assert.equal(await mountLine(dir), undefined);
    await assert.rejects(stat(join(rig.root, 'pods', pod.metadata.uid!)), 'the pod folder is gone');
  });

  it('refuses media it does not implement', async () => {
    const r = await rig.vm.setUp(volumePod([{ name: 'huge', emptyDir: { medium: 'HugePages' } }]));
    assert.equal(r.errors[0]?.code, 'KTS_VOLUME_UNSUPPORTED');
  });
});
