// PLEG relist diffing and CRI-to-runtime-state conversion, on plain CRI answers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildRelist, containerFromStatus, diffRelist, sandboxFromStatus, type Relist } from '../../src/actors/pleg.js';
import type { Container__Output } from '../../src/gen/cri/runtime/v1/Container.js';
import type { PodSandbox__Output } from '../../src/gen/cri/runtime/v1/PodSandbox.js';

function sandbox(id: string, uid: string, ready: boolean): PodSandbox__Output {
  return { id, metadata: { name: 'p', uid, namespace: 'default', attempt: 0 }, state: ready ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY', createdAt: 1, labels: { 'io.kubernetes.pod.uid': uid }, annotations: {}, runtimeHandler: '' };
}

function container(id: string, uid: string, state: Container__Output['state']): Container__Output {
  return { id, podSandboxId: 's', metadata: { name: 'c', attempt: 0 }, image: null, imageRef: '', state, createdAt: 1, labels: { 'io.kubernetes.pod.uid': uid }, annotations: {} };
}

describe('PLEG relist', () => {
  it('emits upstream events for each state change', () => {
    const r0 = buildRelist([sandbox('s1', 'u1', true)], [container('a', 'u1', 'CONTAINER_CREATED'), container('b', 'u1', 'CONTAINER_RUNNING'), container('d', 'u1', 'CONTAINER_EXITED'), container('e', 'u1', 'CONTAINER_RUNNING')]);
    const r1 = buildRelist([sandbox('s1', 'u1', true)], [container('a', 'u1', 'CONTAINER_RUNNING'), container('b', 'u1', 'CONTAINER_EXITED'), container('c', 'u1', 'CONTAINER_RUNNING')]);
    const { events, changed } = diffRelist(r0, r1);
    assert.deepEqual(events.map((e) => `${e.type}:${e.containerId}`).sort(), [
      'ContainerDied:b', 'ContainerDied:e', 'ContainerRemoved:d', 'ContainerRemoved:e', 'ContainerStarted:a', 'ContainerStarted:c',
    ]);
    assert.deepEqual([...changed], ['u1']);
    assert.deepEqual(diffRelist(r1, r1).events, [], 'no change, no event');
  });

  it('counts sandboxes as containers and ignores objects without a pod UID', () => {
    const r0 = buildRelist([sandbox('s1', 'u1', true)], []);
    const r1 = buildRelist([sandbox('s1', 'u1', false)], [{ ...container('x', '', 'CONTAINER_RUNNING'), labels: {} }]);
    assert.deepEqual(diffRelist(r0, r1).events, [{ type: 'ContainerDied', podUid: 'u1', containerId: 's1' }]);
    assert.equal(r1.size, 1);
  });

  it('replaying the events from any relist reproduces the next one (property)', () => {
    const st = fc.constantFrom<'running' | 'exited' | 'unknown'>('running', 'exited', 'unknown');
    const relist = fc.dictionary(fc.constantFrom('u1', 'u2', 'u3'), fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), st));
    const toRelist = (d: Record<string, Record<string, 'running' | 'exited' | 'unknown'>>): Relist => new Map(Object.entries(d).map(([u, cs]) => [u, new Map(Object.entries(cs))]));
    fc.assert(fc.property(relist, relist, (a, b) => {
      const prev = toRelist(a);
      const next = toRelist(b);
      const { events } = diffRelist(prev, next);
      // Apply the events to prev's states: the result must match next's states (for running/exited/gone).
      const view = new Map<string, string>();
      for (const [u, cs] of prev) for (const [id, s] of cs) view.set(`${u}/${id}`, s);
      for (const e of events) {
        const k = `${e.podUid}/${e.containerId}`;
        if (e.type === 'ContainerStarted') view.set(k, 'running');
        if (e.type === 'ContainerDied') view.set(k, 'exited');
        if (e.type === 'ContainerChanged') view.set(k, 'unknown');
        if (e.type === 'ContainerRemoved') view.delete(k);
      }
      const want = new Map<string, string>();
      for (const [u, cs] of next) for (const [id, s] of cs) want.set(`${u}/${id}`, s);
      assert.deepEqual([...view.entries()].sort(), [...want.entries()].sort());
    }));
  });

  it('converts CRI statuses, with restart count and hash from the upstream annotations', () => {
    const c = containerFromStatus({
      id: 'abc', metadata: { name: 'app', attempt: 2 }, state: 'CONTAINER_EXITED', createdAt: 1_700_000_000_000_000_000, startedAt: 1_700_000_001_000_000_000, finishedAt: 1_700_000_002_000_000_000,
      exitCode: 3, image: { image: 'docker.io/library/busybox:1.35', annotations: {} }, imageRef: 'sha256:1', reason: 'Error', message: '', labels: { 'io.kubernetes.container.name': 'app' },
      annotations: { 'io.kubernetes.container.restartCount': '2', 'io.kubernetes.container.hash': 'cafe' }, mounts: [], logPath: '',
    }, 's1', 'containerd');
    assert.equal(c.state, 'exited');
    assert.equal(c.restartCount, 2);
    assert.equal(c.hash, 'cafe');
    assert.equal(c.exitCode, 3);
    assert.equal(c.finishedAt - c.startedAt, 1000);
    const s = sandboxFromStatus({
      id: 's1', metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 1 }, state: 'SANDBOX_READY', createdAt: 1e18,
      network: { ip: '10.88.0.2', additionalIps: [{ ip: 'fd00::2' }] }, linux: { namespaces: { options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', targetId: '' } } }, labels: {}, annotations: {}, runtimeHandler: '',
    });
    assert.deepEqual(s, { id: 's1', attempt: 1, ready: true, createdAt: 1e12, ips: ['10.88.0.2', 'fd00::2'], hostNetwork: false });
  });
});
