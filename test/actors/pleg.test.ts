// PLEG relist diffing and CRI-to-runtime-state conversion, on plain CRI answers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyContainerEvent, buildRelist, diffRelist, eventPodUid, eventsOfContainerEvent, relistOfState, type Relist } from '../../src/actors/pleg/logic.js';
import { containerFromStatus, sandboxFromStatus } from '../../src/pods/cri-status.js';
import type { ContainerEvent } from '../../src/native/cri/api.js';
import type { ContainerStatus__Output } from '../../src/gen/cri/runtime/v1/ContainerStatus.js';
import type { PodSandboxStatus__Output } from '../../src/gen/cri/runtime/v1/PodSandboxStatus.js';
import type { Container__Output } from '../../src/gen/cri/runtime/v1/Container.js';
import type { PodSandbox__Output } from '../../src/gen/cri/runtime/v1/PodSandbox.js';

function sandbox(id: string, uid: string, ready: boolean): PodSandbox__Output {
  return {
    id,
    metadata: { name: 'p', uid, namespace: 'default', attempt: 0 },
    state: ready ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
    createdAt: 1,
    labels: { 'io.kubernetes.pod.uid': uid },
    annotations: {},
    runtimeHandler: '',
  };
}

function container(id: string, uid: string, state: Container__Output['state']): Container__Output {
  return {
    id,
    podSandboxId: 's',
    metadata: { name: 'c', attempt: 0 },
    image: null,
    imageRef: '',
    state,
    createdAt: 1,
    labels: { 'io.kubernetes.pod.uid': uid },
    annotations: {},
  };
}

describe('PLEG relist', () => {
  it('emits upstream events for each state change', () => {
    const r0 = buildRelist(
      [sandbox('s1', 'u1', true)],
      [
        container('a', 'u1', 'CONTAINER_CREATED'),
        container('b', 'u1', 'CONTAINER_RUNNING'),
        container('d', 'u1', 'CONTAINER_EXITED'),
        container('e', 'u1', 'CONTAINER_RUNNING'),
      ],
    );
    const r1 = buildRelist(
      [sandbox('s1', 'u1', true)],
      [container('a', 'u1', 'CONTAINER_RUNNING'), container('b', 'u1', 'CONTAINER_EXITED'), container('c', 'u1', 'CONTAINER_RUNNING')],
    );
    const { events, changed } = diffRelist(r0, r1);
    assert.deepEqual(events.map((e) => `${e.type}:${e.containerId}`).sort(), [
      'ContainerDied:b',
      'ContainerDied:e',
      'ContainerRemoved:d',
      'ContainerRemoved:e',
      'ContainerStarted:a',
      'ContainerStarted:c',
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
    const toRelist = (d: Record<string, Record<string, 'running' | 'exited' | 'unknown'>>): Relist =>
      new Map(Object.entries(d).map(([u, cs]) => [u, new Map(Object.entries(cs))]));
    fc.assert(
      fc.property(relist, relist, (a, b) => {
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
      }),
    );
  });

  it('converts CRI statuses, with restart count and hash from the upstream annotations', () => {
    const c = containerFromStatus(
      {
        id: 'abc',
        metadata: { name: 'app', attempt: 2 },
        state: 'CONTAINER_EXITED',
        createdAt: 1_700_000_000_000_000_000,
        startedAt: 1_700_000_001_000_000_000,
        finishedAt: 1_700_000_002_000_000_000,
        exitCode: 3,
        image: { image: 'docker.io/library/busybox:1.35', annotations: {} },
        imageRef: 'sha256:1',
        reason: 'Error',
        message: '',
        labels: { 'io.kubernetes.container.name': 'app' },
        annotations: { 'io.kubernetes.container.restartCount': '2', 'io.kubernetes.container.hash': 'cafe' },
        mounts: [],
        logPath: '',
      },
      's1',
      'containerd',
    );
    assert.equal(c.state, 'exited');
    assert.equal(c.restartCount, 2);
    assert.equal(c.hash, 'cafe');
    assert.equal(c.exitCode, 3);
    assert.equal(c.finishedAt - c.startedAt, 1000);
    const s = sandboxFromStatus({
      id: 's1',
      metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 1 },
      state: 'SANDBOX_READY',
      createdAt: 1e18,
      network: { ip: '10.88.0.2', additionalIps: [{ ip: 'fd00::2' }] },
      linux: { namespaces: { options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', targetId: '' } } },
      labels: {},
      annotations: {},
      runtimeHandler: '',
    });
    assert.deepEqual(s, { id: 's1', attempt: 1, ready: true, createdAt: 1e12, ips: ['10.88.0.2', 'fd00::2'], hostNetwork: false });
  });
});

function sbStatus(id: string, uid: string, ready: boolean, createdAt: number): PodSandboxStatus__Output {
  return {
    id,
    metadata: { name: 'p', uid, namespace: 'ns', attempt: 0 },
    state: ready ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
    createdAt,
    network: { ip: ready ? '10.0.0.5' : '', additionalIps: [] },
    linux: null,
    labels: { 'io.kubernetes.pod.uid': uid },
    annotations: {},
    runtimeHandler: '',
  };
}

function cStatus(id: string, state: ContainerStatus__Output['state'], exitCode = 0): ContainerStatus__Output {
  return {
    id,
    metadata: { name: 'app', attempt: 0 },
    state,
    createdAt: 2e6,
    startedAt: 3e6,
    finishedAt: state === 'CONTAINER_EXITED' ? 4e6 : 0,
    exitCode,
    image: { image: 'busybox', annotations: {} },
    imageRef: 'sha',
    reason: '',
    message: '',
    labels: { 'io.kubernetes.container.name': 'app', 'io.kubernetes.pod.uid': 'u1' },
    annotations: {},
    mounts: [],
    logPath: '',
  };
}

function ev(
  containerId: string,
  type: ContainerEvent['containerEventType'],
  sb: PodSandboxStatus__Output | null,
  cs: ContainerStatus__Output[],
): ContainerEvent {
  return { containerId, containerEventType: type, createdAt: 5e6, podSandboxStatus: sb, containersStatuses: cs };
}

describe('evented PLEG: runtime events to pod states', () => {
  it("builds a pod state from events alone, replacing only the event's sandbox", () => {
    let st = applyContainerEvent(undefined, 'u1', ev('s1', 'CONTAINER_STARTED_EVENT', sbStatus('s1', 'u1', true, 1e6), []), 'sim', 10);
    assert.equal(st.name, 'p');
    assert.equal(st.namespace, 'ns');
    assert.deepEqual(
      st.sandboxes.map((s) => [s.id, s.ready, s.ips[0]]),
      [['s1', true, '10.0.0.5']],
    );
    st = applyContainerEvent(st, 'u1', ev('c1', 'CONTAINER_STARTED_EVENT', sbStatus('s1', 'u1', true, 1e6), [cStatus('c1', 'CONTAINER_RUNNING')]), 'sim', 11);
    assert.deepEqual(
      st.containers.map((c) => [c.id, c.state, c.sandboxId]),
      [['c1', 'running', 's1']],
    );
    // A second sandbox (a new attempt): the first one and its container stay.
    st = applyContainerEvent(st, 'u1', ev('s2', 'CONTAINER_STARTED_EVENT', sbStatus('s2', 'u1', true, 9e6), []), 'sim', 12);
    assert.deepEqual(
      st.sandboxes.map((s) => s.id),
      ['s2', 's1'],
      'newest first',
    );
    assert.equal(st.containers.length, 1);
    st = applyContainerEvent(
      st,
      'u1',
      ev('c1', 'CONTAINER_STOPPED_EVENT', sbStatus('s1', 'u1', true, 1e6), [cStatus('c1', 'CONTAINER_EXITED', 137)]),
      'sim',
      13,
    );
    assert.equal(st.containers[0]?.exitCode, 137);
    assert.equal(st.observedAt, 13);
    assert.equal(st.source, 'event', "an event state never vouches for a worker's own last change");
    // A container made by hand in the sandbox (no pod UID label) is not the pod's, as in a relist.
    const stray = { ...cStatus('x9', 'CONTAINER_RUNNING'), labels: {} };
    assert.deepEqual(
      applyContainerEvent(
        st,
        'u1',
        ev('x9', 'CONTAINER_STARTED_EVENT', sbStatus('s1', 'u1', true, 1e6), [cStatus('c1', 'CONTAINER_EXITED', 137), stray]),
        'sim',
        13,
      ).containers.map((c) => c.id),
      ['c1'],
    );
    // A deleted sandbox without a status takes its containers along.
    st = applyContainerEvent(st, 'u1', ev('s1', 'CONTAINER_DELETED_EVENT', null, []), 'sim', 14);
    assert.deepEqual(
      st.sandboxes.map((s) => s.id),
      ['s2'],
    );
    assert.deepEqual(st.containers, []);
    assert.deepEqual([...relistOfState(st)], [['s2', 'running']]);
  });

  it('maps event types to upstream lifecycle events', () => {
    const e = (t: ContainerEvent['containerEventType']): ContainerEvent => ev('c', t, null, []);
    assert.deepEqual(eventsOfContainerEvent('u', e('CONTAINER_CREATED_EVENT'), 'gone'), [], 'created: state only, as upstream');
    assert.deepEqual(
      eventsOfContainerEvent('u', e('CONTAINER_STARTED_EVENT'), 'unknown').map((x) => x.type),
      ['ContainerStarted'],
    );
    assert.deepEqual(eventsOfContainerEvent('u', e('CONTAINER_STARTED_EVENT'), 'running'), [], 'a repeat says nothing new');
    assert.deepEqual(
      eventsOfContainerEvent('u', e('CONTAINER_STOPPED_EVENT'), 'running').map((x) => x.type),
      ['ContainerDied'],
    );
    assert.deepEqual(
      eventsOfContainerEvent('u', e('CONTAINER_DELETED_EVENT'), 'running').map((x) => x.type),
      ['ContainerDied', 'ContainerRemoved'],
    );
    assert.deepEqual(
      eventsOfContainerEvent('u', e('CONTAINER_DELETED_EVENT'), 'exited').map((x) => x.type),
      ['ContainerRemoved'],
    );
    assert.deepEqual(eventsOfContainerEvent('u', e('CONTAINER_DELETED_EVENT'), 'gone'), []);
  });

  it('finds the pod from the sandbox labels, else from what it knew of the ID', () => {
    assert.equal(eventPodUid(ev('c', 'CONTAINER_STARTED_EVENT', sbStatus('s', 'u9', true, 1), []), new Map()), 'u9');
    assert.equal(eventPodUid(ev('c', 'CONTAINER_DELETED_EVENT', null, []), new Map([['c', 'u7']])), 'u7');
    assert.equal(eventPodUid(ev('c', 'CONTAINER_DELETED_EVENT', null, []), new Map()), undefined);
  });
});
