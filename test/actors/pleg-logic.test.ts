// The PLEG's rules as a pure object (issue 18; src/actors/pleg/logic.ts PlegLogic), with no
// thread and no runtime: relists and inspections, events newer than a relist in flight,
// tombstones, stale events, batching, and when the event stream counts as up, broken (reopened
// with backoff) or absent. Each case feeds calls with explicit times and reads the effects.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PlegLogic, type PlegEffect, type PlegLogicConfig } from '../../src/actors/pleg/logic.js';
import type { ContainerEvent } from '../../src/native/cri/api.js';
import type { Container__Output } from '../../src/gen/cri/runtime/v1/Container.js';
import type { ContainerStatus__Output } from '../../src/gen/cri/runtime/v1/ContainerStatus.js';
import type { PodSandbox__Output } from '../../src/gen/cri/runtime/v1/PodSandbox.js';
import type { PodSandboxStatus__Output } from '../../src/gen/cri/runtime/v1/PodSandboxStatus.js';
import type { PodRuntimeState } from '../../src/pods/runtime-state.js';

const CFG: PlegLogicConfig = { runtimeName: 'sim', evented: true, relistPeriodMs: 1000, eventedRelistPeriodMs: 300_000 };

function sandbox(id: string, uid: string, ready = true): PodSandbox__Output {
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

function sbStatus(id: string, uid: string, ready = true): PodSandboxStatus__Output {
  return {
    id,
    metadata: { name: 'p', uid, namespace: 'default', attempt: 0 },
    state: ready ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
    createdAt: 1e6,
    network: { ip: '10.0.0.5', additionalIps: [] },
    linux: null,
    labels: { 'io.kubernetes.pod.uid': uid },
    annotations: {},
    runtimeHandler: '',
  };
}

function cStatus(id: string, uid: string, state: ContainerStatus__Output['state']): ContainerStatus__Output {
  return {
    id,
    metadata: { name: 'c', attempt: 0 },
    state,
    createdAt: 2e6,
    startedAt: 3e6,
    finishedAt: 0,
    exitCode: 0,
    image: { image: 'busybox', annotations: {} },
    imageRef: 'sha',
    reason: '',
    message: '',
    labels: { 'io.kubernetes.container.name': 'c', 'io.kubernetes.pod.uid': uid },
    annotations: {},
    mounts: [],
    logPath: '',
  };
}

/** An event created at `atMs` (the runtime stamps nanoseconds). */
function ev(
  containerId: string,
  type: ContainerEvent['containerEventType'],
  atMs: number,
  sb: PodSandboxStatus__Output | null,
  cs: ContainerStatus__Output[] = [],
): ContainerEvent {
  return { containerId, containerEventType: type, createdAt: atMs * 1e6, podSandboxStatus: sb, containersStatuses: cs };
}

function state(uid: string, observedAt: number, running: string[]): PodRuntimeState {
  return {
    uid,
    name: 'p',
    namespace: 'default',
    observedAt,
    sandboxes: [{ id: `s-${uid}`, attempt: 0, ready: true, createdAt: 1, ips: [], hostNetwork: false }],
    containers: running.map((id) => ({
      id,
      runtime: 'sim',
      name: 'c',
      sandboxId: `s-${uid}`,
      attempt: 0,
      restartCount: 0,
      hash: '',
      state: 'running' as const,
      createdAt: 1,
      startedAt: 1,
      finishedAt: 0,
      exitCode: 0,
      reason: '',
      message: '',
      image: '',
      imageRef: '',
    })),
  };
}

const posts = (effects: readonly PlegEffect[]): string[] =>
  effects.flatMap((e) => (e.type === 'post' ? [`${e.msg.type}:${e.msg.uid}:${e.msg.events.map((x) => `${x.type}/${x.containerId}`).join(',')}`] : []));
const kinds = (effects: readonly PlegEffect[]): string[] =>
  effects.map((e) => (e.type === 'mode' ? `mode:${String(e.evented)}` : e.type === 'reopen-stream' ? `reopen:${e.afterMs}` : e.type));

/** One whole relist at `t0`, inspections answered by `inspect` (undefined: the inspection fails). */
function relist(
  logic: PlegLogic,
  t0: number,
  sandboxes: PodSandbox__Output[],
  containers: Container__Output[],
  inspect: (uid: string) => PodRuntimeState | undefined = (uid) =>
    state(
      uid,
      t0,
      containers.filter((c) => c.labels['io.kubernetes.pod.uid'] === uid && c.state === 'CONTAINER_RUNNING').map((c) => c.id),
    ),
): { effects: PlegEffect[]; inspected: string[] } {
  const begun = logic.beginRelist(t0);
  const { round, effects } = logic.listed(begun, sandboxes, containers);
  const inspected = [...round.inspect.keys()];
  for (const uid of inspected) {
    const st = inspect(uid);
    if (st) effects.push(...logic.inspected(round, uid, st));
    else logic.inspectFailed(uid);
  }
  effects.push(...logic.relistDone(round, t0 + 5).effects);
  return { effects, inspected };
}

describe('PLEG logic: relists', () => {
  it('inspects new and changed pods only, with their part of the lists, and posts their states with the events', () => {
    const logic = new PlegLogic({ ...CFG, evented: false }, 0);
    const first = relist(
      logic,
      1000,
      [sandbox('s-a', 'a'), sandbox('s-b', 'b')],
      [container('a1', 'a', 'CONTAINER_RUNNING'), container('b1', 'b', 'CONTAINER_RUNNING')],
    );
    assert.deepEqual(first.inspected.sort(), ['a', 'b']);
    assert.deepEqual(posts(first.effects).sort(), ['state:a:ContainerStarted/s-a,ContainerStarted/a1', 'state:b:ContainerStarted/s-b,ContainerStarted/b1']);
    const second = relist(
      logic,
      2000,
      [sandbox('s-a', 'a'), sandbox('s-b', 'b')],
      [container('a1', 'a', 'CONTAINER_EXITED'), container('b1', 'b', 'CONTAINER_RUNNING')],
    );
    assert.deepEqual(second.inspected, ['a'], 'only the pod that changed');
    assert.deepEqual(posts(second.effects), ['state:a:ContainerDied/a1']);
    const third = relist(logic, 3000, [sandbox('s-b', 'b')], [container('b1', 'b', 'CONTAINER_RUNNING')]);
    assert.deepEqual(third.inspected, [], 'a gone pod needs no inspection');
    assert.deepEqual(posts(third.effects), ['gone:a:ContainerDied/s-a,ContainerRemoved/s-a,ContainerRemoved/a1']);
    assert.equal(logic.stats.relists, 3);
    assert.equal(logic.stats.pods, 1);
  });

  it('retries a failed inspection on the next relist, changed or not', () => {
    const logic = new PlegLogic({ ...CFG, evented: false }, 0);
    const listed: [PodSandbox__Output[], Container__Output[]] = [[sandbox('s-a', 'a')], [container('a1', 'a', 'CONTAINER_RUNNING')]];
    const failed = relist(logic, 1000, ...listed, () => undefined);
    assert.deepEqual(posts(failed.effects), []);
    assert.equal(logic.stats.inspectRetries, 1);
    const again = relist(logic, 2000, ...listed);
    assert.deepEqual(again.inspected, ['a'], 'inspected again with nothing changed');
    assert.deepEqual(posts(again.effects), ['state:a:'], 'posted, with no new events (they went with the failed round)');
  });

  it('a relist begun before an event keeps what the event said: no inspection, no post, its objects kept', () => {
    const logic = new PlegLogic(CFG, 0);
    logic.streamOpened(500);
    relist(logic, 1000, [sandbox('s-u1', 'u1')], [container('c1', 'u1', 'CONTAINER_RUNNING')]);
    const begun = logic.beginRelist(2000);
    // The container stops at 2100, while the relist's lists (made at 2000) still say running.
    const fx = logic.event(ev('c1', 'CONTAINER_STOPPED_EVENT', 2100, sbStatus('s-u1', 'u1'), [cStatus('c1', 'u1', 'CONTAINER_EXITED')]), 2100);
    assert.equal(logic.stats.evented, true, 'the relist at 1000 began after the open: the stream is up');
    assert.deepEqual(kinds(fx), ['flush-soon'], 'the event asks for a flush');
    assert.deepEqual(posts(logic.flush(2101)), ['state:u1:ContainerDied/c1']);
    const { round, effects } = logic.listed(begun, [sandbox('s-u1', 'u1')], [container('c1', 'u1', 'CONTAINER_RUNNING')]);
    assert.deepEqual([...round.inspect.keys()], [], 'nothing to inspect: the event said more');
    assert.deepEqual(effects, []);
    assert.equal(logic.previous.get('u1')?.get('c1'), 'exited', "the event's view stays");
    assert.deepEqual(logic.inspected(round, 'u1', state('u1', 2000, ['c1'])), [], 'an inspection from before the event is not posted');
  });

  it('a pod the events deleted stays gone for a relist begun earlier; a later relist drops the tombstone', () => {
    const logic = new PlegLogic(CFG, 0);
    logic.streamOpened(500);
    logic.event(ev('s1', 'CONTAINER_STARTED_EVENT', 600, sbStatus('s1', 'u1')), 600);
    logic.flush(601);
    const begun = logic.beginRelist(1000);
    logic.event(ev('s1', 'CONTAINER_DELETED_EVENT', 1100, null), 1100);
    assert.deepEqual(posts(logic.flush(1101)), ['gone:u1:ContainerDied/s1,ContainerRemoved/s1']);
    assert.equal(logic.tombstones.get('u1'), 1100);
    const { round } = logic.listed(begun, [sandbox('s1', 'u1')], []);
    assert.equal(logic.previous.has('u1'), false, 'not brought back by the older list');
    assert.deepEqual([...round.inspect.keys()], []);
    logic.relistDone(round, 1200);
    assert.equal(logic.tombstones.has('u1'), true, 'kept: that relist began before the deletion');
    relist(logic, 2000, [], []);
    assert.equal(logic.tombstones.has('u1'), false, 'a relist begun after it confirms it');
  });
});

describe('PLEG logic: events', () => {
  it('batches a burst: one flush request, one post per pod with every event in order', () => {
    const logic = new PlegLogic(CFG, 0);
    logic.streamOpened(0);
    const fx = [
      ...logic.event(ev('s1', 'CONTAINER_STARTED_EVENT', 10, sbStatus('s1', 'u1')), 10),
      ...logic.event(ev('c1', 'CONTAINER_CREATED_EVENT', 11, sbStatus('s1', 'u1'), [cStatus('c1', 'u1', 'CONTAINER_CREATED')]), 11),
      ...logic.event(ev('c1', 'CONTAINER_STARTED_EVENT', 12, sbStatus('s1', 'u1'), [cStatus('c1', 'u1', 'CONTAINER_RUNNING')]), 12),
    ];
    assert.equal(kinds(fx).filter((k) => k === 'flush-soon').length, 1);
    assert.deepEqual(posts(logic.flush(13)), ['state:u1:ContainerStarted/s1,ContainerStarted/c1']);
    assert.deepEqual(logic.flush(14), [], 'nothing twice');
    assert.equal(logic.stats.events, 3);
  });

  it('drops stale events: older than the stream, or than what the PLEG already holds', () => {
    const logic = new PlegLogic(CFG, 0);
    logic.streamOpened(1000);
    assert.deepEqual(
      logic.event(ev('s1', 'CONTAINER_STARTED_EVENT', 900, sbStatus('s1', 'u1')), 1001).filter((e) => e.type !== 'mode' && e.type !== 'reschedule'),
      [],
      'queued before the stream opened',
    );
    relist(logic, 2000, [sandbox('s1', 'u1')], []);
    assert.deepEqual(logic.event(ev('s1', 'CONTAINER_STOPPED_EVENT', 1500, sbStatus('s1', 'u1', false)), 2100), [], 'older than the state the relist posted');
    assert.equal(logic.stats.staleEvents, 2);
    assert.equal(logic.previous.get('u1')?.get('s1'), 'running');
  });

  it('ignores objects of no kubelet pod', () => {
    const logic = new PlegLogic(CFG, 0);
    logic.streamOpened(0);
    const foreign = { ...sbStatus('x', ''), labels: {}, metadata: { name: 'x', uid: '', namespace: 'default', attempt: 0 } };
    assert.deepEqual(kinds(logic.event(ev('x', 'CONTAINER_STARTED_EVENT', 10, foreign), 10)), ['mode:true', 'reschedule']);
    assert.deepEqual(logic.flush(11), []);
  });
});

describe('PLEG logic: the stream', () => {
  const end = (message: string, code?: string): { message: string; code?: string } => (code ? { message, code } : { message });

  it('up once a relist begun after the open has answered: the safety-net period from then on', () => {
    const logic = new PlegLogic(CFG, 0);
    logic.streamOpened(1000);
    const before = relist(logic, 900, [], []);
    assert.deepEqual(kinds(before.effects), [], 'a relist begun before the open proves nothing');
    assert.equal(logic.relistPeriodMs, 1000);
    const after = relist(logic, 2000, [], []);
    assert.deepEqual(kinds(after.effects), ['mode:true', 'reschedule']);
    assert.equal(logic.relistPeriodMs, 300_000);
  });

  it('Unimplemented: relisting only, said once with why; no reopen', () => {
    const logic = new PlegLogic(CFG, 0);
    logic.streamOpened(1000);
    const fx = logic.streamEnded(end('unknown service runtime.v1.RuntimeService GetContainerEvents', 'KTS_CRI_UNIMPLEMENTED'), 1010);
    assert.deepEqual(kinds(fx), ['mode:false', 'relist-now']);
    const mode = fx.find((e) => e.type === 'mode');
    assert.match(mode?.type === 'mode' ? (mode.streamError ?? '') : '', /^the runtime has no event stream \(unknown service.*\); relisting every 1000 ms$/);
    assert.equal(logic.streamless, true);
  });

  it('a broken stream: reopened with backoff 1 s doubling to 30 s; an event resets it; evented off meanwhile', () => {
    const logic = new PlegLogic(CFG, 0);
    logic.streamOpened(0);
    relist(logic, 100, [], []);
    assert.equal(logic.stats.evented, true);
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      logic.streamOpened(10_000 * (i + 1));
      const fx = logic.streamEnded(end('runtime unavailable', 'KTS_CRI_UNAVAILABLE'), 10_000 * (i + 1) + 5000);
      if (i === 0) assert.deepEqual(kinds(fx), ['mode:false', 'reschedule', 'reopen:1000', 'mode:false', 'relist-now']);
      for (const e of fx) if (e.type === 'reopen-stream') delays.push(e.afterMs);
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    assert.equal(logic.relistPeriodMs, 1000, 'relisting every second while the stream is down');
    logic.streamOpened(100_000);
    logic.event(ev('s1', 'CONTAINER_STARTED_EVENT', 100_001, sbStatus('s1', 'u1')), 100_001);
    const next = logic.streamEnded(end('runtime unavailable', 'KTS_CRI_UNAVAILABLE'), 200_000);
    assert.deepEqual(
      next.filter((e) => e.type === 'reopen-stream'),
      [{ type: 'reopen-stream', afterMs: 1000 }],
    );
    assert.equal(logic.stats.streamFailures, 8);
  });

  it('three quick clean ends in a row: the runtime has the stream switched off', () => {
    const logic = new PlegLogic(CFG, 0);
    for (let i = 0; i < 3; i++) {
      logic.streamOpened(i * 10_000);
      const fx = logic.streamEnded(end('the runtime ended the event stream'), i * 10_000 + 10);
      assert.equal(
        fx.some((e) => e.type === 'reopen-stream'),
        i < 2,
        `end ${i + 1}`,
      );
    }
    assert.equal(logic.streamless, true);
    const slow = new PlegLogic(CFG, 0);
    for (let i = 0; i < 3; i++) {
      slow.streamOpened(i * 10_000);
      slow.streamEnded(end('the runtime ended the event stream'), i * 10_000 + 5000);
    }
    assert.equal(slow.streamless, false, 'ends after a while are breaks, not a switched-off stream');
  });

  it('health by the last good relist: 3 min relisting, 10 min evented; a threshold may be given', () => {
    const logic = new PlegLogic({ ...CFG, evented: false }, 0);
    assert.deepEqual(logic.health(60_000), { ok: true });
    assert.match(logic.health(181_000).message ?? '', /PLEG is not healthy: pleg was last seen active 181s ago; threshold is 180s/);
    relist(logic, 200_000, [], []);
    assert.deepEqual(logic.health(300_000), { ok: true });
    assert.equal(logic.health(300_000, 1000).ok, false);
  });
});
