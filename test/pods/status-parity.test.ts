// Pod status as upstream's status generation builds it (issue 17), case by case: init container
// readiness, the reasons and messages of the four conditions in every phase, the restart count
// that moves with the state it counts, statuses kept once the runtime removed a container, and
// readiness gates. The same behaviours run on containerd through a real API server in
// test/cluster/pod-status.cluster.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, PodCondition, PodStatus } from '../../src/api/core-v1.js';
import { computePodStatus } from '../../src/pods/status.js';
import { containerHash } from '../../src/pods/hash.js';
import type { PodRuntimeState, RuntimeContainer } from '../../src/pods/runtime-state.js';
import { withForeignConditions } from '../../src/cluster/status-manager.js';

const NOW = '2026-12-07T10:00:00Z';

function pod(restartPolicy: 'Always' | 'OnFailure' | 'Never', apps: string[], inits: string[] = []): Pod {
  return {
    metadata: { name: 'p', namespace: 'default', uid: 'u1' },
    spec: {
      restartPolicy,
      containers: apps.map((name) => ({ name, image: 'busybox:1.35' })),
      ...(inits.length ? { initContainers: inits.map((name) => ({ name, image: 'busybox:1.35' })) } : {}),
    },
  };
}

let seq = 0;
function ctr(p: Pod, name: string, state: RuntimeContainer['state'], exitCode = 0, restartCount = 0): RuntimeContainer {
  const spec = [...(p.spec.initContainers ?? []), ...p.spec.containers].find((c) => c.name === name)!;
  seq++;
  return {
    id: `c${seq}`,
    runtime: 'containerd',
    name,
    sandboxId: 's1',
    attempt: restartCount,
    restartCount,
    hash: containerHash(spec),
    state,
    createdAt: 1_000_000 + seq * 1000,
    startedAt: state === 'created' ? 0 : 1_000_100 + seq * 1000,
    finishedAt: state === 'exited' ? 1_000_500 + seq * 1000 : 0,
    exitCode,
    reason: state === 'exited' ? (exitCode === 0 ? 'Completed' : 'Error') : '',
    message: '',
    image: 'docker.io/library/busybox:1.35',
    imageRef: 'sha256:ab',
  };
}

function rt(containers: RuntimeContainer[]): PodRuntimeState {
  return {
    uid: 'u1',
    name: 'p',
    namespace: 'default',
    sandboxes: [{ id: 's1', attempt: 0, ready: true, createdAt: 1, ips: ['10.88.0.5'], hostNetwork: false }],
    containers: [...containers].reverse(),
  };
}

function cond(s: PodStatus, type: string): Omit<PodCondition, 'lastTransitionTime' | 'lastProbeTime'> {
  const c = s.conditions!.find((x) => x.type === type)!;
  const { lastTransitionTime: _t, lastProbeTime: _p, ...rest } = c;
  return rest;
}

describe('pod status parity: init containers', () => {
  it('an init container that exited 0 is ready, on Always and Never pods alike; it has no started field', () => {
    for (const policy of ['Always', 'Never'] as const) {
      const p = pod(policy, ['app'], ['init']);
      const s = computePodStatus(p, rt([ctr(p, 'init', 'exited', 0), ctr(p, 'app', 'running')]), { now: NOW });
      const init = s.initContainerStatuses![0]!;
      assert.equal(init.ready, true, policy);
      assert.equal(init.state.terminated?.reason, 'Completed');
      assert.equal('started' in init, false, 'upstream v1.20 sets started on app containers only');
      assert.deepEqual(cond(s, 'Initialized'), { type: 'Initialized', status: 'True' });
      assert.equal(s.containerStatuses![0]!.started, true);
    }
  });

  it('a running or failed init container is not ready', () => {
    const p = pod('Always', ['app'], ['init']);
    assert.equal(computePodStatus(p, rt([ctr(p, 'init', 'running')]), { now: NOW }).initContainerStatuses![0]!.ready, false);
    assert.equal(computePodStatus(p, rt([ctr(p, 'init', 'exited', 3)]), { now: NOW }).initContainerStatuses![0]!.ready, false);
  });

  it('a Never pod whose init container fails: Failed, Initialized False with the incomplete ones, apps waiting PodInitializing', () => {
    const p = pod('Never', ['app'], ['i1', 'i2']);
    const s = computePodStatus(p, rt([ctr(p, 'i1', 'exited', 1)]), { now: NOW });
    assert.equal(s.phase, 'Failed');
    assert.deepEqual(cond(s, 'Initialized'), {
      type: 'Initialized',
      status: 'False',
      reason: 'ContainersNotInitialized',
      message: 'containers with incomplete status: [i1 i2]',
    });
    assert.deepEqual(cond(s, 'ContainersReady'), {
      type: 'ContainersReady',
      status: 'False',
      reason: 'ContainersNotReady',
      message: 'containers with unready status: [app]',
    });
    assert.deepEqual(cond(s, 'Ready'), { type: 'Ready', status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [app]' });
    assert.deepEqual(s.containerStatuses![0]!.state, { waiting: { reason: 'PodInitializing' } });
    assert.deepEqual(s.initContainerStatuses![1]!.state, { waiting: { reason: 'PodInitializing' } });
  });

  it('keeps a terminated init status once the runtime removed the container', () => {
    const p = pod('Always', ['app'], ['init']);
    const first = computePodStatus(p, rt([ctr(p, 'init', 'exited', 0), ctr(p, 'app', 'running')]), { now: NOW });
    const after = computePodStatus(p, rt([ctr(p, 'app', 'running')]), { now: NOW, previous: first });
    assert.deepEqual(after.initContainerStatuses, first.initContainerStatuses);
    assert.equal(cond(after, 'Initialized').status, 'True');
  });
});

describe('pod status parity: conditions by phase', () => {
  it('Succeeded: Initialized True PodCompleted, Ready and ContainersReady False PodCompleted without a message', () => {
    const p = pod('Never', ['a', 'b'], ['init']);
    const s = computePodStatus(p, rt([ctr(p, 'init', 'exited', 0), ctr(p, 'a', 'exited', 0), ctr(p, 'b', 'exited', 0)]), { now: NOW });
    assert.equal(s.phase, 'Succeeded');
    assert.deepEqual(cond(s, 'Initialized'), { type: 'Initialized', status: 'True', reason: 'PodCompleted' });
    assert.deepEqual(cond(s, 'Ready'), { type: 'Ready', status: 'False', reason: 'PodCompleted' });
    assert.deepEqual(cond(s, 'ContainersReady'), { type: 'ContainersReady', status: 'False', reason: 'PodCompleted' });
    assert.deepEqual(cond(s, 'PodScheduled'), { type: 'PodScheduled', status: 'True' });
  });

  it('Failed: ContainersNotReady naming every container, in spec order; Initialized True', () => {
    const p = pod('Never', ['a', 'b']);
    const s = computePodStatus(p, rt([ctr(p, 'a', 'exited', 0), ctr(p, 'b', 'exited', 2)]), { now: NOW });
    assert.equal(s.phase, 'Failed');
    assert.deepEqual(cond(s, 'Initialized'), { type: 'Initialized', status: 'True' });
    assert.deepEqual(cond(s, 'Ready'), { type: 'Ready', status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [a b]' });
  });

  it('Running and ready: the four conditions True without reasons; one unready container named', () => {
    const p = pod('Always', ['a', 'b']);
    const a = ctr(p, 'a', 'running');
    const b = ctr(p, 'b', 'running');
    const ready = computePodStatus(p, rt([a, b]), { now: NOW });
    for (const t of ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled']) assert.deepEqual(cond(ready, t), { type: t, status: 'True' });
    assert.deepEqual(
      ready.conditions!.map((c) => c.type),
      ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'],
    );
    const one = computePodStatus(p, rt([a, b]), { now: NOW, ready: (name) => name !== 'b' });
    assert.deepEqual(cond(one, 'ContainersReady'), {
      type: 'ContainersReady',
      status: 'False',
      reason: 'ContainersNotReady',
      message: 'containers with unready status: [b]',
    });
  });

  it('Pending on init: Initialized False naming the running init container', () => {
    const p = pod('Always', ['app'], ['i1', 'i2']);
    const s = computePodStatus(p, rt([ctr(p, 'i1', 'exited', 0), ctr(p, 'i2', 'running')]), { now: NOW });
    assert.equal(s.phase, 'Pending');
    assert.deepEqual(cond(s, 'Initialized'), {
      type: 'Initialized',
      status: 'False',
      reason: 'ContainersNotInitialized',
      message: 'containers with incomplete status: [i2]',
    });
  });
});

describe('pod status parity: the restart count moves with the state it counts', () => {
  it('a created (not yet started) instance is not shown: count, state and last state stay those of the one before', () => {
    const p = pod('Always', ['a']);
    const c9 = ctr(p, 'a', 'exited', 1, 9);
    const c10 = ctr(p, 'a', 'created', 0, 10);
    const crashLoop = { reason: 'CrashLoopBackOff' as const, message: 'back-off 5m0s restarting failed container=a pod=p_default(u1)' };
    const s = computePodStatus(p, rt([c9, c10]), { now: NOW, syncErrors: new Map([['a', crashLoop]]) });
    const cs = s.containerStatuses![0]!;
    assert.equal(cs.restartCount, 9);
    assert.equal(cs.containerID, `containerd://${c9.id}`);
    assert.equal(cs.state.waiting?.reason, 'CrashLoopBackOff');
    assert.equal(cs.lastState.terminated?.containerID, `containerd://${c9.id}`);
    // Once it runs: the new count, the new instance, the old one as last state.
    const run = computePodStatus(p, rt([c9, { ...c10, state: 'running', startedAt: c10.createdAt + 50 }]), { now: NOW });
    const rs = run.containerStatuses![0]!;
    assert.equal(rs.restartCount, 10);
    assert.equal(rs.containerID, `containerd://${c10.id}`);
    assert.ok(rs.state.running);
    assert.equal(rs.lastState.terminated?.containerID, `containerd://${c9.id}`);
  });

  it('a running instance whose postStart hook has not returned is not shown either', () => {
    const p = pod('Always', ['a']);
    const c1 = ctr(p, 'a', 'exited', 1, 1);
    const c2 = ctr(p, 'a', 'running', 0, 2);
    const s = computePodStatus(p, rt([c1, c2]), { now: NOW, postStartRunning: (_n, c) => c.id === c2.id });
    const cs = s.containerStatuses![0]!;
    assert.equal(cs.restartCount, 1);
    assert.equal(cs.containerID, `containerd://${c1.id}`);
    assert.equal(cs.state.terminated?.exitCode, 1);
    assert.equal(cs.ready, false);
  });

  it('the first instance being created: waiting ContainerCreating with no container ID', () => {
    const p = pod('Always', ['a']);
    const cs = computePodStatus(p, rt([ctr(p, 'a', 'created')]), { now: NOW }).containerStatuses![0]!;
    assert.deepEqual(cs.state, { waiting: { reason: 'ContainerCreating' } });
    assert.equal(cs.containerID, undefined);
    assert.equal(cs.restartCount, 0);
  });
});

describe('pod status parity: addresses', () => {
  it('a finished pod keeps its pod IPs once its sandbox is stopped (as the Go kubelet shows them)', () => {
    const p = pod('Never', ['a']);
    const running = computePodStatus(p, rt([ctr(p, 'a', 'running')]), { now: NOW });
    assert.equal(running.podIP, '10.88.0.5');
    const stopped: PodRuntimeState = {
      ...rt([ctr(p, 'a', 'exited', 0)]),
      sandboxes: [{ id: 's1', attempt: 0, ready: false, createdAt: 1, ips: [], hostNetwork: false }],
    };
    const done = computePodStatus(p, stopped, { now: NOW, previous: running });
    assert.equal(done.phase, 'Succeeded');
    assert.equal(done.podIP, '10.88.0.5');
    assert.deepEqual(done.podIPs, [{ ip: '10.88.0.5' }]);
  });
});

describe('pod status parity: readiness gates', () => {
  const ours = computePodStatus(pod('Always', ['a']), rt([ctr(pod('Always', ['a']), 'a', 'running')]), { now: NOW });

  it('Ready waits for every gate: missing and False gates named, as upstream', () => {
    const api: PodStatus = { conditions: [{ type: 'example.com/lb', status: 'False' }] };
    const merged = withForeignConditions(ours, api, ['example.com/lb', 'example.com/dns'], () => NOW);
    assert.deepEqual(cond(merged, 'Ready'), {
      type: 'Ready',
      status: 'False',
      reason: 'ReadinessGatesNotReady',
      message:
        'the status of pod readiness gate "example.com/lb" is not "True", but False, corresponding condition of pod readiness gate "example.com/dns" does not exist.',
    });
    assert.deepEqual(cond(merged, 'ContainersReady'), { type: 'ContainersReady', status: 'True' });
    assert.ok(
      merged.conditions!.some((c) => c.type === 'example.com/lb'),
      'the foreign condition is kept',
    );
  });

  it('Ready is True once every gate is True', () => {
    const api: PodStatus = { conditions: [{ type: 'example.com/lb', status: 'True' }] };
    assert.deepEqual(cond(withForeignConditions(ours, api, ['example.com/lb']), 'Ready'), { type: 'Ready', status: 'True' });
  });
});
