// The static pod folder source against a real folder: initial read, change by watch, removal,
// bad files reported without hiding good ones, dotfiles ignored, a single-file path.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, unlinkSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSource, type SourceSnapshot } from '../../src/sources/file-source.js';
import { waitFor } from '../helpers/cri-fixtures.js';

const manifest = (name: string, image = 'busybox:1.35'): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n  - name: c\n    image: ${image}\n`;

describe('static pod folder source', () => {
  let dir: string;
  let source: FileSource;
  const snapshots: SourceSnapshot[] = [];
  const last = (): SourceSnapshot => snapshots[snapshots.length - 1]!;
  const names = (s: SourceSnapshot): string[] => s.pods.map((p) => p.metadata.name ?? '').sort();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kts-static-'));
    writeFileSync(join(dir, 'web.yaml'), manifest('web'));
    writeFileSync(join(dir, 'two.yaml'), `${manifest('a')}---\n${manifest('b')}`);
    writeFileSync(join(dir, '.hidden.yaml'), manifest('hidden'));
    writeFileSync(join(dir, 'broken.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec: {containers: [{name: c, image: i}]}\n');
    source = new FileSource({ path: dir, nodeName: 'n1', checkEveryMs: 60_000, debounceMs: 20, onSnapshot: (s) => snapshots.push(s) });
    await source.start();
  });

  after(() => {
    source.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads every manifest at start, skipping dotfiles, reporting bad ones by file', () => {
    assert.equal(snapshots.length, 1);
    assert.deepEqual(names(last()), ['a-n1', 'b-n1', 'web-n1']);
    assert.equal(last().errors.length, 1);
    assert.match(last().errors[0]!, /broken\.yaml: invalid pod: metadata.name: "Bad_Name"/);
  });

  it('sees a new file, an edit and a removal through the watch', async () => {
    writeFileSync(
      join(dir, 'new.json'),
      JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'new' }, spec: { containers: [{ name: 'c', image: 'i:1' }] } }),
    );
    await waitFor('new pod', () => (names(last()).includes('new-n1') ? true : undefined), 5000);
    const before = last().pods.find((p) => p.metadata.name === 'web-n1')!.metadata.uid;
    // Editors replace files by rename; do the same.
    writeFileSync(join(dir, '.web.tmp'), manifest('web', 'busybox:latest'));
    renameSync(join(dir, '.web.tmp'), join(dir, 'web.yaml'));
    await waitFor('edited pod', () => (last().pods.find((p) => p.metadata.name === 'web-n1')?.metadata.uid !== before ? true : undefined), 5000);
    unlinkSync(join(dir, 'two.yaml'));
    await waitFor('removed pods', () => (!names(last()).includes('a-n1') ? true : undefined), 5000);
    assert.deepEqual(names(last()), ['new-n1', 'web-n1']);
  });

  it('reads a path that names a single file, and reports a missing path as an empty set', async () => {
    const got: SourceSnapshot[] = [];
    const single = new FileSource({ path: join(dir, 'web.yaml'), nodeName: 'n1', onSnapshot: (s) => got.push(s) });
    await single.start();
    single.stop();
    assert.deepEqual(
      got[0]!.pods.map((p) => p.metadata.name),
      ['web-n1'],
    );
    const missing = new FileSource({ path: join(dir, 'nope'), nodeName: 'n1', onSnapshot: (s) => got.push(s) });
    await missing.start();
    missing.stop();
    assert.deepEqual(got[1]!.pods, []);
    assert.match(got[1]!.errors[0]!, /does not exist/);
  });
});
