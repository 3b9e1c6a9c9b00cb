// The one way host paths are built from pod data (src/util/safe-path.ts): every kind of hostile
// value refused with KTS_UNSAFE_PATH, ordinary ones joined as they are, and the checks that look
// at the disk (symlinks a container could plant in its volume) refusing what leaves the base.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { component, isInside, joinRelative, joinUnder, mkdirInside, realPathInside, removeInside, UnsafePathError } from '../../src/util/safe-path.js';

function refused(fn: () => unknown, pattern?: RegExp): UnsafePathError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UnsafePathError, `an UnsafePathError, got ${String(err)}`);
    assert.equal(err.code, 'KTS_UNSAFE_PATH');
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  return assert.fail('expected a refusal');
}

async function refusedAsync(p: Promise<unknown>, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof UnsafePathError, `an UnsafePathError, got ${String(err)}`);
    assert.equal(err.code, 'KTS_UNSAFE_PATH');
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

const BASE = '/var/lib/kubelet/pods';

describe('safe-path: single components (UIDs, names)', () => {
  const hostile: [string, string, RegExp][] = [
    ['dot-dot', '..', /must not be '\.\.'/],
    ['dot', '.', /must not be '\.'/],
    ['a slash', 'a/b', /must not contain '\/'/],
    ['the finding-3 uid', '/../../../tmp/victim', /must not contain '\/'/],
    ['an absolute path', '/etc', /must not contain '\/'/],
    ['a trailing slash', 'uid/', /must not contain '\/'/],
    ['NUL', 'uid\0x', /must not contain NUL/],
    ['empty', '', /must not be empty/],
    ['256 bytes', 'a'.repeat(256), /at most 255 bytes/],
    ['128 three-byte characters (384 bytes)', '€'.repeat(128), /at most 255 bytes/],
  ];
  for (const [label, value, why] of hostile) {
    it(`refuses ${label}`, () => {
      const err = refused(() => joinUnder(BASE, [value], 'pod uid'), why);
      assert.equal(err.what, 'pod uid');
      assert.equal(err.value, value);
      assert.match(err.message, /^unsafe pod uid /);
      refused(() => component(value, 'pod uid'), why);
    });
  }

  it('refuses a non-string (a number from YAML)', () => {
    refused(() => component(42, 'pod uid'), /must be a string/);
  });

  it('joins ordinary components as they are: UUIDs, md5 hex, dots inside, 255 bytes, unicode', () => {
    assert.equal(joinUnder(BASE, ['0b6f7e0e-2a7e-4d4e-9c8a-1f2e3d4c5b6a', 'etc-hosts']), `${BASE}/0b6f7e0e-2a7e-4d4e-9c8a-1f2e3d4c5b6a/etc-hosts`);
    assert.equal(joinUnder(BASE, ['d41d8cd98f00b204e9800998ecf8427e']), `${BASE}/d41d8cd98f00b204e9800998ecf8427e`);
    assert.equal(joinUnder(BASE, ['a..b', '...', '.hidden']), `${BASE}/a..b/.../.hidden`);
    assert.equal(joinUnder(BASE, ['a'.repeat(255)]), `${BASE}/${'a'.repeat(255)}`);
    // Unicode is no separator for the kernel: U+2215 (division slash) and U+FF0F stay one component.
    assert.equal(joinUnder(BASE, ['pod∕x', 'ｆｕｌｌ／width', 'ünïcødé']), `${BASE}/pod∕x/ｆｕｌｌ／width/ünïcødé`);
  });

  it('names the offending component when several are given', () => {
    const err = refused(() => joinUnder(BASE, ['uid', 'containers', '../x'], ['pod uid', 'folder', 'container name']));
    assert.equal(err.what, 'container name');
  });
});

describe('safe-path: relative paths of several segments (subPath, items[].path)', () => {
  const hostile: [string, string, RegExp][] = [
    ['dot-dot', '..', /must not contain '\.\.'/],
    ['a dot-dot segment', 'a/../b', /must not contain '\.\.'/],
    ['climbing out', 'a/../../etc', /must not contain '\.\.'/],
    ['an absolute path', '/etc/passwd', /must be a relative path/],
    ['the finding-3 form', '/../../tmp/victim', /must be a relative path/],
    ['NUL', 'a\0b', /must not contain NUL/],
    ['empty', '', /must not be empty/],
    ['a segment over 255 bytes', `a/${'b'.repeat(256)}`, /components of at most 255 bytes/],
    ['over 4096 bytes', 'a/'.repeat(2049), /at most 4096 bytes/],
  ];
  for (const [label, value, why] of hostile) {
    it(`refuses ${label}`, () => {
      refused(() => joinRelative('/vol', value, 'subPath'), why);
    });
  }

  it('normalises what stays inside: ., //, trailing /, ..-prefixed names, unicode', () => {
    assert.equal(joinRelative('/vol', 'app/./logs'), '/vol/app/logs');
    assert.equal(joinRelative('/vol', 'a//b/'), '/vol/a/b/');
    assert.equal(joinRelative('/vol', '.'), '/vol');
    assert.equal(joinRelative('/vol', '..data/key'), '/vol/..data/key');
    assert.equal(joinRelative('/vol', 'dätä/日本'), '/vol/dätä/日本');
  });

  it('isInside is lexical and strict unless asked', () => {
    assert.equal(isInside('/a/b', '/a/b/c'), true);
    assert.equal(isInside('/a/b', '/a/b'), false);
    assert.equal(isInside('/a/b', '/a/b', true), true);
    assert.equal(isInside('/a/b', '/a/bc'), false);
    assert.equal(isInside('/a/b', '/a/b/../c'), false);
    assert.equal(isInside('/a/b', '/a/b/..c'), true);
  });
});

describe('safe-path: at time of use, through symlinks', () => {
  let dir: string;
  let vol: string;
  let outside: string;

  before(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'kts-safe-path-')));
    vol = join(dir, 'vol');
    outside = join(dir, 'outside');
    mkdirSync(join(vol, 'real', 'deep'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'host data');
    writeFileSync(join(vol, 'real', 'file'), 'volume data');
    // What a container could plant in its writable volume.
    symlinkSync(outside, join(vol, 'out-last'));
    symlinkSync('/', join(vol, 'root'));
    symlinkSync(outside, join(vol, 'out-mid'));
    symlinkSync('real/deep', join(vol, 'in-rel'));
    symlinkSync(join(vol, 'real'), join(vol, 'in-abs'));
    symlinkSync('../../outside', join(vol, 'real', 'up'));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a subPath whose last component is a symlink out of the volume', async () => {
    await refusedAsync(
      realPathInside(vol, 'out-last', 'subPath', { path: 'subpath', base: 'volume path' }),
      new RegExp(`^subpath "${outside}" not within volume path "${vol}"$`),
    );
    await refusedAsync(realPathInside(vol, 'root', 'subPath'), /not within/);
  });

  it('refuses a subPath whose middle component is a symlink out of the volume', async () => {
    await refusedAsync(realPathInside(vol, 'out-mid/secret', 'subPath'), /not within/);
    await refusedAsync(realPathInside(vol, 'real/up/secret', 'subPath'), /not within/);
  });

  it('allows symlinks that stay inside, and returns the real path', async () => {
    assert.equal(await realPathInside(vol, 'in-rel', 'subPath'), join(vol, 'real', 'deep'));
    assert.equal(await realPathInside(vol, 'in-abs/file', 'subPath'), join(vol, 'real', 'file'));
    assert.equal(await realPathInside(vol, 'real/deep', 'subPath'), join(vol, 'real', 'deep'));
  });

  it('passes a missing path on as the fs error (nothing to use), and refuses .. before looking', async () => {
    await assert.rejects(realPathInside(vol, 'nope', 'subPath'), { code: 'ENOENT' });
    await refusedAsync(realPathInside(vol, '../outside', 'subPath'), /must not contain '\.\.'/);
  });

  it('mkdirInside makes missing folders but never through a symlink out', async () => {
    await mkdirInside(vol, 'made/a/b', 0o755);
    assert.ok(existsSync(join(vol, 'made', 'a', 'b')));
    await mkdirInside(vol, 'in-rel/new', 0o755);
    assert.ok(existsSync(join(vol, 'real', 'deep', 'new')), 'through a link that stays inside');
    await refusedAsync(mkdirInside(vol, 'out-mid/created', 0o755), /is a symlink out of/);
    assert.equal(existsSync(join(outside, 'created')), false, 'nothing made outside');
    await refusedAsync(mkdirInside(vol, 'real/up/created', 0o755), /is a symlink out of/);
    assert.equal(existsSync(join(outside, 'created')), false);
  });

  it('removeInside deletes only strictly inside its base, never through a planted parent link', async () => {
    const base = join(dir, 'pods');
    mkdirSync(join(base, 'uid', 'volumes', 'x'), { recursive: true });
    writeFileSync(join(base, 'uid', 'volumes', 'x', 'f'), 'x');
    await refusedAsync(removeInside(base, base), /is not inside/);
    await refusedAsync(removeInside(base, join(base, '..', 'outside')), /is not inside/);
    await refusedAsync(removeInside(base, outside), /is not inside/);
    // A pod folder swapped for a link to the host: its "volumes" would be the host's.
    mkdirSync(join(outside, 'volumes'));
    writeFileSync(join(outside, 'volumes', 'keep'), 'keep');
    symlinkSync(outside, join(base, 'linked'));
    await refusedAsync(removeInside(base, join(base, 'linked', 'volumes')), /resolves to/);
    assert.equal(readFileSync(join(outside, 'volumes', 'keep'), 'utf8'), 'keep');
    // A link at the path itself is removed, not what it points at.
    symlinkSync(outside, join(base, 'uid', 'link'));
    await removeInside(base, join(base, 'uid', 'link'));
    assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'host data');
    await removeInside(base, join(base, 'uid', 'volumes'));
    assert.equal(existsSync(join(base, 'uid', 'volumes')), false);
    await removeInside(base, join(base, 'gone', 'volumes')); // nothing there: nothing to do
  });
});
