// The atomic writer: upstream's layout (..data -> version folder, key -> ..data/key), the swap,
// removed keys, modes, no rewrite when unchanged, and the path rules.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtomicWriter, validatePayloadPath, type Payload } from '../../src/volumes/atomic-writer.js';
import { InvalidPathError } from '../../src/volumes/errors.js';

function payload(entries: Record<string, string | [string, number]>): Payload {
  return new Map(
    Object.entries(entries).map(([k, v]) => [k, typeof v === 'string' ? { data: Buffer.from(v), mode: 0o644 } : { data: Buffer.from(v[0]), mode: v[1] }]),
  );
}

describe('atomic writer', () => {
  let root: string;
  let n = 0;
  const fresh = async (): Promise<string> => mkdtemp(join(root, `v${n++}-`));

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'kts-atomic-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('lays files out as upstream: a version folder, ..data, and key -> ..data/key links', async () => {
    const dir = await fresh();
    const w = new AtomicWriter(dir, () => new Date('2024-05-01T10:11:12Z'));
    const r = await w.write(payload({ username: 'admin', 'conf/app.yaml': 'a: 1', 'conf/deep/x': 'x' }));
    assert.equal(r.written, true);
    const version = await readlink(join(dir, '..data'));
    assert.match(version, /^\.\.2024_05_01_10_11_12\./);
    assert.equal(await readlink(join(dir, 'username')), '..data/username');
    assert.equal(await readlink(join(dir, 'conf')), '..data/conf', 'a nested path links its top-level folder');
    assert.equal(await readFile(join(dir, 'username'), 'utf8'), 'admin');
    assert.equal(await readFile(join(dir, 'conf/deep/x'), 'utf8'), 'x');
    assert.deepEqual((await readdir(dir)).sort(), ['..data', version, 'conf', 'username'].sort());
  });

  it('swaps ..data to a new version on change, removes the old version and vanished keys', async () => {
    const dir = await fresh();
    const w = new AtomicWriter(dir);
    await w.write(payload({ a: '1', b: '2', 'sub/c': '3' }));
    const v1 = await readlink(join(dir, '..data'));
    const r = await w.write(payload({ a: 'one', d: '4' }));
    assert.equal(r.written, true);
    assert.deepEqual(r.removed.sort(), ['b', 'sub']);
    const v2 = await readlink(join(dir, '..data'));
    assert.notEqual(v2, v1);
    assert.equal(await readFile(join(dir, 'a'), 'utf8'), 'one');
    assert.equal(await readFile(join(dir, 'd'), 'utf8'), '4');
    await assert.rejects(lstat(join(dir, 'b')), 'the link of a removed key is gone');
    await assert.rejects(lstat(join(dir, 'sub')));
    await assert.rejects(lstat(join(dir, v1)), 'the old version folder is removed');
    await assert.rejects(lstat(join(dir, '..data_tmp')), 'no temporary link is left');
  });

  it('writes the modes asked for (0644 default, per-file modes)', async () => {
    const dir = await fresh();
    await new AtomicWriter(dir).write(payload({ plain: 'p', secret: ['s', 0o400], exec: ['e', 0o755] }));
    assert.equal((await stat(join(dir, 'plain'))).mode & 0o777, 0o644);
    assert.equal((await stat(join(dir, 'secret'))).mode & 0o777, 0o400);
    assert.equal((await stat(join(dir, 'exec'))).mode & 0o777, 0o755);
  });

  it('rewrites nothing when content and modes are unchanged, but a mode change is a change', async () => {
    const dir = await fresh();
    const w = new AtomicWriter(dir);
    await w.write(payload({ a: '1', 'x/y': '2' }));
    const v1 = await readlink(join(dir, '..data'));
    const r = await w.write(payload({ a: '1', 'x/y': '2' }));
    assert.equal(r.written, false);
    assert.equal(await readlink(join(dir, '..data')), v1);
    const r2 = await w.write(payload({ a: ['1', 0o600], 'x/y': '2' }));
    assert.equal(r2.written, true);
    assert.equal((await stat(join(dir, 'a'))).mode & 0o777, 0o600);
  });

  it('repairs a missing user-visible link without rewriting, and drops leftover version folders', async () => {
    const dir = await fresh();
    const w = new AtomicWriter(dir);
    await w.write(payload({ a: '1' }));
    await rm(join(dir, 'a'));
    assert.equal((await w.write(payload({ a: '1' }))).written, false);
    assert.equal(await readFile(join(dir, 'a'), 'utf8'), '1');
    // A crashed write's version folder.
    const stale = join(dir, '..2020_01_01_00_00_00.zzzzzz');
    await mkdir(stale);
    await w.write(payload({ a: '2' }));
    await assert.rejects(lstat(stale));
  });

  it('an empty payload removes every key', async () => {
    const dir = await fresh();
    const w = new AtomicWriter(dir);
    await w.write(payload({ a: '1' }));
    const r = await w.write(new Map());
    assert.deepEqual(r.removed, ['a']);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => !f.startsWith('..')),
      [],
    );
  });

  it('refuses bad paths as upstream and writes nothing', async () => {
    for (const [p, words] of [
      ['/etc/passwd', 'must be relative path'],
      ['../x', "must not contain '..'"],
      ['a/../../x', "must not contain '..'"],
      ['..data', "must not start with '..'"],
      ['..foo/bar', "must not start with '..'"],
      ['', 'must not be empty'],
    ] as const) {
      assert.throws(
        () => validatePayloadPath(p),
        (e: unknown) => e instanceof InvalidPathError && e.code === 'KTS_VOLUME_INVALID_PATH' && e.message.includes(words),
        p,
      );
    }
    assert.doesNotThrow(() => validatePayloadPath('a..b/c'));
    const dir = await fresh();
    await assert.rejects(new AtomicWriter(dir).write(payload({ ok: '1', '../escape': '2' })), InvalidPathError);
    assert.deepEqual(await readdir(dir), []);
  });
});
