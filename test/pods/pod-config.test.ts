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
    assert.deepEqual(
      r1.changes.map((c) => `${c.op}:${c.pod.metadata.uid}`),
      ['add:a', 'add:b'],
    );
    assert.equal(r1.changes[0]!.pod.metadata.annotations?.['kubernetes.io/config.source'], 'file');
    assert.equal(r1.changes[0]!.pod.metadata.annotations?.['kubernetes.io/config.seen'], 'T0');
    assert.deepEqual(cfg.set('file', [pod('a', 'web'), pod('b', 'db')]).changes, [], 'same set, no change');
    const r3 = cfg.set('file', [pod('a', 'web', 'i:2')]);
    assert.deepEqual(
      r3.changes.map((c) => `${c.op}:${c.pod.metadata.uid}`),
      ['remove:b', 'update:a'],
    );
    assert.equal(r3.changes[0]!.pod.metadata.annotations?.['kubernetes.io/config.seen'], 'T0', 'seen keeps the first sighting');
    assert.equal(cfg.size, 1);
  });

  it('refuses a second pod with the same name, from any source, and keeps the first', () => {
    const cfg = new PodConfig(['file', 'http']);
    cfg.set('file', [pod('a', 'web')]);
    const r = cfg.set('http', [pod('x', 'web'), pod('y', 'api')]);
    assert.deepEqual(
      r.changes.map((c) => c.pod.metadata.uid),
      ['y'],
    );
    assert.equal(r.refused.length, 1);
    assert.match(r.refused[0]!.reason, /duplicate pod name default\/web: already used by pod a from source file/);
    const again = cfg.set('file', [pod('a', 'web'), pod('c', 'web')]);
    assert.match(again.refused[0]?.reason ?? '', /duplicate pod name/);
    // Once the first holder is gone, the name is free.
    cfg.set('file', []);
    assert.deepEqual(
      cfg.set('http', [pod('x', 'web'), pod('y', 'api')]).changes.map((c) => `${c.op}:${c.pod.metadata.uid}`),
      ['add:x'],
    );
  });

  it('lets an edited static pod (new UID, same name) replace the old one in one update', () => {
    const cfg = new PodConfig(['file']);
    cfg.set('file', [pod('old', 'web')]);
    const r = cfg.set('file', [pod('new', 'web', 'i:2')]);
    assert.deepEqual(r.refused, []);
    assert.deepEqual(
      r.changes.map((c) => `${c.op}:${c.pod.metadata.uid}`),
      ['remove:old', 'add:new'],
    );
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

describe('pod config deltas (a watching source)', () => {
  it('applies upserts and deletes one at a time, and becomes ready only with a full set', () => {
    const cfg = new PodConfig(['file', 'api'], () => 'T0');
    cfg.set('file', []);
    assert.equal(cfg.allSourcesReady(), false);
    const r1 = cfg.delta('api', [pod('a', 'web')], []);
    assert.deepEqual(
      r1.changes.map((c) => `${c.op}:${c.pod.metadata.uid}`),
      ['add:a'],
    );
    assert.equal(cfg.allSourcesReady(), false, 'a delta is not a full set');
    cfg.set('api', [pod('a', 'web'), pod('b', 'db')]);
    assert.equal(cfg.allSourcesReady(), true);
    const r2 = cfg.delta('api', [], ['a']);
    assert.deepEqual(
      r2.changes.map((c) => `${c.op}:${c.pod.metadata.uid}`),
      ['remove:a'],
    );
    assert.equal(cfg.delta('api', [], ['zzz']).changes.length, 0, 'an unknown UID is nothing');
    assert.equal(cfg.size, 1);
  });

  it('a status or resourceVersion change is not a change of the pod; a deletionTimestamp is', () => {
    const cfg = new PodConfig(['api']);
    cfg.set('api', [pod('a', 'web')]);
    const withStatus = { ...pod('a', 'web'), status: { phase: 'Running' as const } };
    withStatus.metadata.resourceVersion = '42';
    assert.equal(cfg.delta('api', [withStatus], []).changes.length, 0);
    const deleting = pod('a', 'web');
    deleting.metadata.deletionTimestamp = '2026-12-02T00:00:00Z';
    deleting.metadata.deletionGracePeriodSeconds = 30;
    assert.deepEqual(
      cfg.delta('api', [deleting], []).changes.map((c) => c.op),
      ['update'],
    );
  });
});
