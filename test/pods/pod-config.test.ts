// Merging pod sources: add / update / remove per source snapshot, refused duplicates, readiness.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../src/api/core-v1.js';
import { PodConfig } from '../../src/pods/pod-config.js';

function pod(uid: string, name: string, image = 'i:1'): Pod {
  return { metadata: { uid, name, namespace: 'default' }, spec: { containers: [{ name: 'c', image }] } };
}

describe('pod config', () => {
  it('adds, updates and removes per source snapshot, stamping source and seen', () => {
    const cfg = new PodConfig(['file', 'http'], () => 'T0');
    const r1 = cfg.set('file', [pod('a', 'web'), pod('b', 'db')]);
    assert.deepEqual(r1.changes.map((c) => `${c.op}:${c.pod.metadata.uid}`), ['add:a', 'add:b']);
    assert.equal(r1.changes[0]!.pod.metadata.annotations?.['kubernetes.io/config.source'], 'file');
    assert.equal(r1.changes[0]!.pod.metadata.annotations?.['kubernetes.io/config.seen'], 'T0');
    assert.deepEqual(cfg.set('file', [pod('a', 'web'), pod('b', 'db')]).changes, [], 'same set, no change');
    const r3 = cfg.set('file', [pod('a', 'web', 'i:2')]);
    assert.deepEqual(r3.changes.map((c) => `${c.op}:${c.pod.metadata.uid}`), ['remove:b', 'update:a']);
    assert.equal(r3.changes[0]!.pod.metadata.annotations?.['kubernetes.io/config.seen'], 'T0', 'seen keeps the first sighting');
    assert.equal(cfg.size, 1);
  });

  it('refuses a second pod with the same name, from any source, and keeps the first', () => {
    const cfg = new PodConfig(['file', 'http']);
    cfg.set('file', [pod('a', 'web')]);
    const r = cfg.set('http', [pod('x', 'web'), pod('y', 'api')]);
    assert.deepEqual(r.changes.map((c) => c.pod.metadata.uid), ['y']);
    assert.equal(r.refused.length, 1);
    assert.match(r.refused[0]!.reason, /duplicate pod name default\/web: already used by pod a from source file/);
    const again = cfg.set('file', [pod('a', 'web'), pod('c', 'web')]);
    assert.match(again.refused[0]?.reason ?? '', /duplicate pod name/);
    // Once the first holder is gone, the name is free.
    cfg.set('file', []);
    assert.deepEqual(cfg.set('http', [pod('x', 'web'), pod('y', 'api')]).changes.map((c) => `${c.op}:${c.pod.metadata.uid}`), ['add:x']);
  });

  it('lets an edited static pod (new UID, same name) replace the old one in one update', () => {
    const cfg = new PodConfig(['file']);
    cfg.set('file', [pod('old', 'web')]);
    const r = cfg.set('file', [pod('new', 'web', 'i:2')]);
    assert.deepEqual(r.refused, []);
    assert.deepEqual(r.changes.map((c) => `${c.op}:${c.pod.metadata.uid}`), ['remove:old', 'add:new']);
  });

  it('refuses pods without UID and unknown sources', () => {
    const cfg = new PodConfig(['file']);
    assert.match(cfg.set('file', [pod('', 'x')]).refused[0]!.reason, /uid is empty/);
    assert.throws(() => cfg.set('api', []), /unknown source "api"/);
  });

  it('is ready once every source has sent a set', () => {
    const cfg = new PodConfig(['file', 'http']);
    assert.equal(cfg.allSourcesReady(), false);
    cfg.set('file', []);
    assert.equal(cfg.allSourcesReady(), false);
    cfg.set('http', []);
    assert.equal(cfg.allSourcesReady(), true);
  });
});
