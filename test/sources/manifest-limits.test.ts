// Manifest text is measured before the parser sees it, and every source (folder, URL, POST
// /static-pods) reads it the same way. Regressions of issue 16:
//  - finding 4: a manifest nested 50,000 deep, parsed twice, aborted the process (V8 out of
//    memory inside the yaml composer); anything nested 1,000+ deep did on its second parse;
//  - finding 5: a symlink to a FIFO in the manifest folder froze the file source (new manifests
//    ignored, deleted ones kept running), and one to /dev/zero read ~800 MB per scan;
//  - finding 9 (part): submitted-pods.json was 0644 with whole manifests (env values) in it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { pino } from 'pino';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkManifestText, ManifestLimitError, MANIFEST_LIMITS, measureManifest, readManifestFile } from '../../src/sources/manifest-limits.js';
import { parseManifests } from '../../src/pods/static-pod.js';
import { FileSource, type SourceSnapshot } from '../../src/sources/file-source.js';
import { UrlSource } from '../../src/sources/url-source.js';
import { SubmitSource } from '../../src/sources/submit-source.js';
import { waitFor } from '../helpers/cri-fixtures.js';

const opts = { nodeName: 'n1', source: 'file' as const, location: 'm.yaml' };
const pod = (name: string): string => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  containers:\n  - name: c\n    image: busybox:1.35\n`;
const deepJson = (depth: number): string =>
  `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"deep"},"spec":{"containers":[{"name":"c","image":"i","args":${'['.repeat(depth)}${']'.repeat(depth)}}]}}`;

describe('manifest shape, measured from the lexer', () => {
  it('counts block, flow and mixed nesting', () => {
    assert.deepEqual(measureManifest('a: 1\n'), { depth: 1, documents: 1 });
    assert.equal(measureManifest('a:\n  b:\n    c: 1\n').depth, 3);
    assert.equal(measureManifest('a:\n  b:\n  - - x: 1\n      y: [1, {z: 2}]\n').depth, 7);
    assert.equal(measureManifest('[[[[1]]]]').depth, 4);
    assert.equal(measureManifest('- - - - - x\n').depth, 5);
    // Brackets in strings, block scalars and comments are text, not structure.
    assert.equal(measureManifest("a: \"[[[[[[\"\nb: '{{{{'\nc: |\n  [[[[[[ don't\n  ]]\n# [[[[[\nd: 1\n").depth, 1);
  });

  it('counts documents', () => {
    assert.equal(measureManifest(`${pod('a')}---\n${pod('b')}---\n${pod('c')}`).documents, 3);
    assert.equal(measureManifest('').documents, 0);
  });

  it('measures a real pod as shallow, inside a List too', () => {
    const affinity = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a}
  spec:
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
          - matchExpressions:
            - key: kubernetes.io/os
              operator: In
              values: [linux]
    containers: [{name: c, image: i}]
`;
    const { depth } = measureManifest(affinity);
    assert.ok(depth >= 10 && depth <= 14, `depth ${depth}`);
    assert.equal(parseManifests(affinity, opts).filter((r) => r.ok).length, 1);
  });

  it('refuses text over the size, depth and document limits, with the limit named', () => {
    assert.throws(
      () => checkManifestText('a'.repeat(MANIFEST_LIMITS.maxBytes + 1)),
      (e: unknown) => e instanceof ManifestLimitError && /more than the limit of 4194304/.test(e.message),
    );
    assert.throws(() => checkManifestText(deepJson(101)), /nested deeper than 100 levels/);
    assert.throws(() => checkManifestText('a: 1\n---\n'.repeat(MANIFEST_LIMITS.maxDocuments + 1)), /more than 1000 YAML documents/);
  });
});

describe('parseManifests under hostile nesting (finding 4)', () => {
  it('refuses a manifest nested 50,000 deep, twice, and the process lives', () => {
    const text = deepJson(50_000);
    for (let i = 0; i < 2; i++) {
      const r = parseManifests(text, opts);
      assert.equal(r.length, 1);
      assert.ok(!r[0]!.ok);
      assert.match(r[0]!.ok ? '' : r[0]!.error, /refused before parsing: manifest nested deeper than 100 levels/);
    }
  });

  it('parses 1,000-deep block and flow nesting three times without aborting (refused each time)', () => {
    const block = `apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n${Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i + 1)}k${i}:`).join('\n')} 1\n`;
    for (const text of [deepJson(1000), block, '- '.repeat(1000) + 'x\n']) {
      for (let i = 0; i < 3; i++) {
        const r = parseManifests(text, opts);
        assert.ok(r.length === 1 && !r[0]!.ok && /nested deeper/.test(r[0]!.error), JSON.stringify(r).slice(0, 200));
      }
    }
  });

  it('accepts nesting just within the limit, repeatedly', () => {
    for (let i = 0; i < 5; i++) {
      const r = parseManifests(deepJson(90), opts);
      assert.equal(r.length, 1);
      // Parsed, then refused by validation (args must be strings), never by the limit.
      assert.ok(!r[0]!.ok && /args: must be a list of strings/.test(r[0]!.error), r[0]!.ok ? '' : r[0]!.error);
    }
  });

  it('bounds alias expansion (billion laughs) with a clear error', () => {
    const lol = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      ...Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9)
            .fill(`*${String.fromCharCode(97 + i)}`)
            .join(',')}]`,
      ),
    ].join('\n');
    const r = parseManifests(`${lol}\nkind: Pod\napiVersion: v1\n`, opts);
    assert.equal(r.length, 1);
    assert.ok(!r[0]!.ok);
    assert.match(r[0]!.ok ? '' : r[0]!.error, /alias/i);
  });

  it('refuses more pods in one text than the limit, and keeps the first ones', () => {
    const items = Array.from({ length: MANIFEST_LIMITS.maxPods + 2 }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `p${i}` },
      spec: { containers: [{ name: 'c', image: 'i' }] },
    }));
    const r = parseManifests(JSON.stringify({ kind: 'List', apiVersion: 'v1', items }), opts);
    assert.equal(r.filter((x) => x.ok).length, MANIFEST_LIMITS.maxPods);
    assert.equal(r.filter((x) => !x.ok).length, 1);
  });
});

describe('reading manifest files (finding 5)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kts-manifest-read-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses FIFOs, devices and oversized files without reading them', async () => {
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    await assert.rejects(readManifestFile(join(dir, 'fifo')), /not a regular file \(a FIFO\)/);
    await assert.rejects(readManifestFile('/dev/zero'), /not a regular file \(a character device\)/);
    writeFileSync(join(dir, 'big'), Buffer.alloc(2048, 0x61));
    await assert.rejects(readManifestFile(join(dir, 'big'), 1024), /2048 bytes, more than the manifest limit of 1024/);
    assert.equal((await readManifestFile(join(dir, 'big'), 4096)).length, 2048);
  });

  it('a FIFO or /dev/zero behind a symlink in the folder never freezes the file source', async () => {
    const folder = mkdtempSync(join(dir, 'manifests-'));
    writeFileSync(join(folder, 'a.yaml'), pod('a'));
    execFileSync('mkfifo', [join(dir, 'planted-fifo')]);
    symlinkSync(join(dir, 'planted-fifo'), join(folder, 'fifo.yaml'));
    symlinkSync('/dev/zero', join(folder, 'zero.yaml'));
    const snapshots: SourceSnapshot[] = [];
    const source = new FileSource({ path: folder, nodeName: 'n1', checkEveryMs: 60_000, debounceMs: 20, onSnapshot: (s) => snapshots.push(s) });
    try {
      // Before the fix, start() never returned: the first scan blocked in the FIFO's open/read.
      await Promise.race([source.start(), new Promise((_, reject) => setTimeout(() => reject(new Error('file source scan blocked')), 10_000))]);
      const first = snapshots.at(-1)!;
      assert.deepEqual(
        first.pods.map((p) => p.metadata.name),
        ['a-n1'],
      );
      assert.equal(first.errors.length, 2);
      assert.ok(
        first.errors.some((e) => /fifo\.yaml: not a regular file \(a FIFO\)/.test(e)),
        first.errors.join('\n'),
      );
      assert.ok(
        first.errors.some((e) => /zero\.yaml: not a regular file \(a character device\)/.test(e)),
        first.errors.join('\n'),
      );
      // The source keeps working: a new manifest is seen, a removed one goes.
      writeFileSync(join(folder, 'b.yaml'), pod('b'));
      rmSync(join(folder, 'a.yaml'));
      await source.scan();
      await waitFor(
        'b seen, a gone',
        () => {
          const names = snapshots
            .at(-1)!
            .pods.map((p) => p.metadata.name)
            .sort();
          return names.length === 1 && names[0] === 'b-n1' ? true : undefined;
        },
        10_000,
        20,
      );
      assert.ok(process.memoryUsage().rss < 1024 * 1024 * 1024, 'no /dev/zero read into memory');
    } finally {
      source.stop();
    }
  });

  it('refuses a manifest file over the size limit by name, the others still load', async () => {
    const folder = mkdtempSync(join(dir, 'big-'));
    writeFileSync(join(folder, 'a.yaml'), pod('a'));
    writeFileSync(join(folder, 'huge.yaml'), `${pod('h')}metadata2: "${'x'.repeat(MANIFEST_LIMITS.maxBytes)}"\n`);
    const snapshots: SourceSnapshot[] = [];
    const source = new FileSource({ path: folder, nodeName: 'n1', checkEveryMs: 60_000, onSnapshot: (s) => snapshots.push(s) });
    await source.start();
    source.stop();
    assert.deepEqual(
      snapshots[0]!.pods.map((p) => p.metadata.name),
      ['a-n1'],
    );
    assert.match(snapshots[0]!.errors.join('\n'), /huge\.yaml: \d+ bytes, more than the manifest limit of 4194304/);
  });
});

describe('the URL and submit sources use the same limits', () => {
  let server: Server;
  let body = '';
  let url = '';
  before(async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/yaml' });
      // Written in chunks without a content-length, as a hostile server would stream it.
      const chunk = 64 * 1024;
      let at = 0;
      const next = (): void => {
        if (at >= body.length) return void res.end();
        const ok = res.write(body.slice(at, at + chunk));
        at += chunk;
        if (ok) setImmediate(next);
        else res.once('drain', next);
      };
      next();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pods.yaml`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('an oversized URL body is refused and the current pods are kept', async () => {
    const snapshots: SourceSnapshot[] = [];
    const source = new UrlSource({ url, nodeName: 'n1', checkEveryMs: 60_000, onSnapshot: (s) => snapshots.push(s) });
    body = pod('a');
    await source.poll();
    assert.deepEqual(
      snapshots.at(-1)?.pods.map((p) => p.metadata.name),
      ['a-n1'],
    );
    body = `# ${'x'.repeat(MANIFEST_LIMITS.maxBytes + 10)}\n`;
    await source.poll();
    assert.equal(snapshots.length, 1, 'no new snapshot from an oversized body');
    body = deepJson(5000);
    await source.poll();
    assert.equal(snapshots.length, 2);
    assert.equal(snapshots.at(-1)!.pods.length, 0);
    assert.match(snapshots.at(-1)!.errors.join('\n'), /nested deeper than 100/);
  });

  it('POST /static-pods content: a deep manifest twice is refused, the set unchanged; the saved file is 0600', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-submit-'));
    try {
      const file = join(dir, 'submitted-pods.json');
      const snapshots: SourceSnapshot[] = [];
      const submit = new SubmitSource({ file, nodeName: 'n1', onSnapshot: (s) => snapshots.push(s) });
      submit.start();
      assert.deepEqual(submit.submit(pod('keep')).errors, []);
      for (let i = 0; i < 2; i++) {
        const r = submit.submit(deepJson(50_000));
        assert.equal(r.accepted.length, 0);
        assert.match(r.errors.join(), /nested deeper than 100 levels/);
      }
      assert.deepEqual(
        submit.pods().map((p) => p.metadata.name),
        ['keep-n1'],
      );
      assert.equal(statSync(file).mode & 0o777, 0o600);
      // A file left 0644 by an older kubelet-ts is tightened when loaded.
      chmodSync(file, 0o644);
      new SubmitSource({ file, nodeName: 'n1', onSnapshot: () => undefined }).start();
      assert.equal(statSync(file).mode & 0o777, 0o600);
      // A file that does not parse is moved aside (never overwritten by the next submission) and logged.
      writeFileSync(file, '{"manifests": [[1, 2]');
      const lines: unknown[] = [];
      const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
      const again = new SubmitSource({ file, nodeName: 'n1', onSnapshot: () => undefined, logger });
      again.start();
      assert.deepEqual(again.pods(), []);
      const aside = readdirSync(dir).filter((f) => f.startsWith('submitted-pods.json.unreadable-'));
      assert.equal(aside.length, 1);
      assert.equal(readFileSync(join(dir, aside[0]!), 'utf8'), '{"manifests": [[1, 2]');
      assert.ok(lines.some((l) => (l as { msg: string }).msg === 'submitted static pods not loaded: their file does not parse; moved aside'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
