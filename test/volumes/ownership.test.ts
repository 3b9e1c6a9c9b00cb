// fsGroup ownership of a volume folder (upstream SetVolumeOwnership): group, modes, setgid on
// folders, symlinks left alone.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fsGroupOf, setVolumeOwnership } from '../../src/volumes/ownership.js';

describe('volume ownership (fsGroup)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kts-ownership-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads fsGroup from the pod', () => {
    assert.equal(fsGroupOf({ metadata: {}, spec: { containers: [], securityContext: { fsGroup: 2000 } } }), 2000);
    assert.equal(fsGroupOf({ metadata: {}, spec: { containers: [] } }), undefined);
  });

  it('writable: group rw, folders setgid and x; read-only: group r', async () => {
    const rw = join(dir, 'rw');
    mkdirSync(join(rw, 'sub'), { recursive: true, mode: 0o700 });
    writeFileSync(join(rw, 'sub', 'f'), 'x', { mode: 0o600 });
    await setVolumeOwnership(rw, 2000, false);
    assert.equal(statSync(join(rw, 'sub')).gid, 2000);
    assert.equal(statSync(join(rw, 'sub')).mode & 0o7777, 0o2770);
    assert.equal(statSync(join(rw, 'sub', 'f')).mode & 0o7777, 0o660);
    assert.equal(statSync(join(rw, 'sub', 'f')).gid, 2000);

    const ro = join(dir, 'ro');
    mkdirSync(ro, { mode: 0o750 });
    writeFileSync(join(ro, 'key'), 'v', { mode: 0o644 });
    symlinkSync('key', join(ro, 'link'));
    await setVolumeOwnership(ro, 3000, true);
    assert.equal(statSync(join(ro, 'key')).mode & 0o7777, 0o644);
    assert.equal(statSync(join(ro, 'key')).gid, 3000);
    assert.equal(statSync(ro).mode & 0o7777, 0o2750);
    assert.equal(lstatSync(join(ro, 'link')).gid, 0, 'the symlink itself is not touched');
  });
});
