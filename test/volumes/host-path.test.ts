// hostPath volumes: every type checked (or created) as upstream's checkType, with its words;
// the host path itself is what containers mount.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostPathTypeError } from '../../src/volumes/errors.js';
import { setUpHostPath } from '../../src/volumes/host-path.js';
import { volumePod, volumeRig } from './helpers.js';

describe('hostPath volume', () => {
  let dir: string;
  let server: Server;
  let sock: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kts-hostpath-'));
    await writeFile(join(dir, 'file'), 'x');
    sock = join(dir, 'app.sock');
    server = createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  const fails = async (path: string, type: string, words: string): Promise<void> => {
    await assert.rejects(setUpHostPath({ path, type }), (e: unknown) => e instanceof HostPathTypeError && e.message === words, `${type} ${path}`);
  };

  it('"" checks nothing and mounts the path as it is', async () => {
    assert.equal(await setUpHostPath({ path: join(dir, 'missing') }), join(dir, 'missing'));
  });

  it('Directory, File, Socket, CharDevice, BlockDevice require the right kind', async () => {
    assert.equal(await setUpHostPath({ path: dir, type: 'Directory' }), dir);
    assert.equal(await setUpHostPath({ path: join(dir, 'file'), type: 'File' }), join(dir, 'file'));
    assert.equal(await setUpHostPath({ path: sock, type: 'Socket' }), sock);
    assert.equal(await setUpHostPath({ path: '/dev/null', type: 'CharDevice' }), '/dev/null');
    await fails(join(dir, 'file'), 'Directory', `hostPath type check failed: ${join(dir, 'file')} is not a directory`);
    await fails(join(dir, 'nope'), 'Directory', `hostPath type check failed: ${join(dir, 'nope')} is not a directory`);
    await fails(dir, 'File', `hostPath type check failed: ${dir} is not a file`);
    await fails(join(dir, 'file'), 'Socket', `hostPath type check failed: ${join(dir, 'file')} is not a socket file`);
    await fails(join(dir, 'file'), 'CharDevice', `hostPath type check failed: ${join(dir, 'file')} is not a character device`);
    await fails('/dev/null', 'BlockDevice', 'hostPath type check failed: /dev/null is not a block device');
    await fails(dir, 'Bogus', 'Bogus is an invalid volume type');
  });

  it('DirectoryOrCreate and FileOrCreate make what is missing (0755 folder, 0644 file)', async () => {
    const d = join(dir, 'made/deep');
    await setUpHostPath({ path: d, type: 'DirectoryOrCreate' });
    assert.ok((await stat(d)).isDirectory());
    assert.equal((await stat(d)).mode & 0o777, 0o755);
    const f = join(dir, 'made/new.txt');
    await setUpHostPath({ path: f, type: 'FileOrCreate' });
    assert.ok((await stat(f)).isFile());
    assert.equal((await stat(f)).mode & 0o777, 0o644);
    await fails(join(dir, 'file'), 'DirectoryOrCreate', `hostPath type check failed: ${join(dir, 'file')} is not a directory`);
    await fails(dir, 'FileOrCreate', `hostPath type check failed: ${dir} is not a file`);
  });

  it('through the volume manager: mounted directly, writable, relative and .. paths refused', async () => {
    const rig = await volumeRig();
    try {
      const r = await rig.vm.setUp(volumePod([{ name: 'h', hostPath: { path: dir, type: 'Directory' } }]));
      assert.deepEqual(r.volumes['h'], { hostPath: dir, readOnly: false });
      const bad = await rig.vm.setUp(
        volumePod([
          { name: 'r', hostPath: { path: 'relative/x' } },
          { name: 'u', hostPath: { path: '/var/../etc' } },
          { name: 'f', hostPath: { path: join(dir, 'file'), type: 'Directory' } },
        ]),
      );
      assert.deepEqual(bad.errors.map((e) => e.volume).sort(), ['f', 'r', 'u']);
      assert.equal(
        bad.errors.find((e) => e.volume === 'f')?.message,
        `MountVolume.SetUp failed for volume "f" : hostPath type check failed: ${join(dir, 'file')} is not a directory`,
      );
    } finally {
      await rig.close();
    }
  });
});
