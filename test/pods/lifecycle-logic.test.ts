// The pure heart of SyncPod: which actions a sync takes (computePodActions), what status it
// reports (computePodStatus), and restart backoff, on plain data and a simulated clock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Pod } from '../../src/api/core-v1.js';
import { computePodActions } from '../../src/pods/actions.js';
import { computePodStatus, qosClass } from '../../src/pods/status.js';
import { Backoff } from '../../src/pods/backoff.js';
import { containerHash } from '../../src/pods/hash.js';
import type { PodRuntimeState, RuntimeContainer } from '../../src/pods/runtime-state.js';

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
function ctr(p: Pod, name: string, state: RuntimeContainer['state'], exitCode = 0, attempt = 0): RuntimeContainer {
  const spec = [...(p.spec.initContainers ?? []), ...p.spec.containers].find((c) => c.name === name)!;
  seq++;
  return {
    id: `c${seq}`,
    runtime: 'containerd',
    name,
    sandboxId: 's1',
    attempt,
    restartCount: attempt,
    hash: containerHash(spec),
    state,
    createdAt: 1000 + seq,
    startedAt: state === 'created' ? 0 : 2000 + seq,
    finishedAt: state === 'exited' ? 3000 + seq : 0,
    exitCode,
    reason: state === 'exited' ? (exitCode === 0 ? 'Completed' : 'Error') : '',
    message: '',
    image: 'docker.io/library/busybox:1.35',
    imageRef: 'sha256:ab',
  };
}

function rt(containers: RuntimeContainer[], sandbox: { ready?: boolean; ips?: string[] } | null = {}): PodRuntimeState {
  return {
    uid: 'u1',
    name: 'p',
    namespace: 'default',
    sandboxes:
      sandbox === null ? [] : [{ id: 's1', attempt: 0, ready: sandbox.ready ?? true, createdAt: 1, ips: sandbox.ips ?? ['10.88.0.5'], hostNetwork: false }],
    containers: [...containers].reverse(),
  };
}

const NOW = '2026-11-22T10:00:00Z';

describe('computePodActions', () => {
  it('creates the sandbox and starts every container of a new pod', () => {
    const a = computePodActions(pod('Always', ['a', 'b']), rt([], null));
    assert.deepEqual(a, {
      killPod: true,
      createSandbox: true,
      sandboxId: '',
      attempt: 0,
      nextInitContainer: undefined,
      containersToStart: [0, 1],
      sidecarsToStart: [],
      containersToKill: [],
    });
  });

  it('starts the first init container before any app container', () => {
    const a = computePodActions(pod('Always', ['a'], ['i1', 'i2']), rt([], null));
    assert.equal(a.nextInitContainer, 0);
    assert.deepEqual(a.containersToStart, []);
  });

  it('runs init containers in order, waits for a running one, then the apps', () => {
    const p = pod('Always', ['a'], ['i1', 'i2']);
    assert.equal(computePodActions(p, rt([ctr(p, 'i1', 'running')])).nextInitContainer, undefined);
    assert.equal(computePodActions(p, rt([ctr(p, 'i1', 'exited', 0)])).nextInitContainer, 1);
    const done = computePodActions(p, rt([ctr(p, 'i1', 'exited', 0), ctr(p, 'i2', 'exited', 0)]));
    assert.equal(done.nextInitContainer, undefined);
    assert.deepEqual(done.containersToStart, [0]);
  });

  it('retries a failed init container, or kills the pod under restartPolicy Never', () => {
    const p = pod('OnFailure', ['a'], ['i1']);
    assert.equal(computePodActions(p, rt([ctr(p, 'i1', 'exited', 1)])).nextInitContainer, 0);
    const never = pod('Never', ['a'], ['i1']);
    const a = computePodActions(never, rt([ctr(never, 'i1', 'exited', 1)]));
    assert.equal(a.nextInitContainer, undefined);
    assert.equal(a.killPod, true);
  });

  it('restarts exited containers per restart policy', () => {
    for (const [policy, exit, restart] of [
      ['Always', 0, true],
      ['Always', 1, true],
      ['OnFailure', 0, false],
      ['OnFailure', 1, true],
      ['Never', 0, false],
      ['Never', 1, false],
    ] as const) {
      const p = pod(policy, ['a', 'b']);
      const a = computePodActions(p, rt([ctr(p, 'a', 'exited', exit), ctr(p, 'b', 'running')]));
      assert.deepEqual(a.containersToStart, restart ? [0] : [], `${policy} exit ${exit}`);
      assert.equal(a.killPod, false);
    }
  });

  it('kills the pod when nothing should run any more', () => {
    const p = pod('OnFailure', ['a']);
    assert.equal(computePodActions(p, rt([ctr(p, 'a', 'exited', 0)])).killPod, true);
  });

  it('restarts a running container whose spec changed or whose liveness probe failed', () => {
    const p = pod('Always', ['a']);
    const c = ctr(p, 'a', 'running');
    const changed = { ...c, hash: 'deadbeef' };
    const a = computePodActions(p, rt([changed]));
    assert.deepEqual(
      a.containersToKill.map((k) => k.reason),
      ['SpecChanged'],
    );
    assert.deepEqual(a.containersToStart, [0]);
    const b = computePodActions(p, rt([c]), { livenessFailed: (name) => name === 'a' });
    assert.deepEqual(
      b.containersToKill.map((k) => [k.id, k.reason]),
      [[c.id, 'Unhealthy']],
    );
    const never = pod('Never', ['a']);
    const n = computePodActions(never, rt([ctr(never, 'a', 'running')]), { livenessFailed: () => true });
    assert.deepEqual(n.containersToStart, [], 'Never: killed, not restarted');
  });

  it('recreates a sandbox that died, with the next attempt, and kills first', () => {
    const p = pod('Always', ['a']);
    const a = computePodActions(p, rt([ctr(p, 'a', 'exited', 137)], { ready: false }));
    assert.equal(a.createSandbox, true);
    assert.equal(a.killPod, true);
    assert.equal(a.attempt, 1);
    assert.deepEqual(a.containersToStart, [0]);
    const noIp = computePodActions(p, rt([ctr(p, 'a', 'running')], { ips: [] }));
    assert.equal(noIp.createSandbox, true);
  });

  it('does not recreate the sandbox of a succeeded OnFailure pod', () => {
    const p = pod('OnFailure', ['a']);
    const a = computePodActions(p, rt([ctr(p, 'a', 'exited', 0)], { ready: false }));
    assert.equal(a.createSandbox, false);
    assert.deepEqual(a.containersToStart, []);
  });

  it('does not recreate the sandbox of a finished Never pod', () => {
    const p = pod('Never', ['a']);
    const a = computePodActions(p, rt([ctr(p, 'a', 'exited', 0)], { ready: false }));
    assert.equal(a.createSandbox, false);
    assert.equal(a.killPod, true);
    assert.deepEqual(a.containersToStart, []);
  });

  it('never starts a running container twice, nor more containers than the spec has (property)', () => {
    const states = fc.constantFrom<RuntimeContainer['state'] | 'none'>('none', 'created', 'running', 'exited', 'unknown');
    fc.assert(
      fc.property(
        fc.constantFrom<'Always' | 'OnFailure' | 'Never'>('Always', 'OnFailure', 'Never'),
        fc.array(fc.tuple(states, fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 4 }),
        (policy, cs) => {
          const names = cs.map((_, i) => `c${i}`);
          const p = pod(policy, names);
          const runtime = rt(cs.flatMap(([s, code], i) => (s === 'none' ? [] : [ctr(p, names[i]!, s, code)])));
          const a = computePodActions(p, runtime);
          assert.equal(new Set(a.containersToStart).size, a.containersToStart.length);
          for (const i of a.containersToStart) {
            const [s, code] = cs[i]!;
            assert.notEqual(s, 'running');
            if (policy === 'Never') assert.equal(s === 'exited', false, 'Never does not restart exited containers');
            if (policy === 'OnFailure' && s === 'exited') assert.notEqual(code, 0);
          }
        },
      ),
    );
  });
});

describe('computePodStatus', () => {
  it('reports a running pod as upstream', () => {
    const p = pod('Always', ['a']);
    const c = ctr(p, 'a', 'running');
    const s = computePodStatus(p, rt([c]), { now: NOW, hostIP: '10.0.0.1' });
    assert.equal(s.phase, 'Running');
    assert.equal(s.podIP, '10.88.0.5');
    assert.deepEqual(s.podIPs, [{ ip: '10.88.0.5' }]);
    assert.equal(s.hostIP, '10.0.0.1');
    assert.equal(s.qosClass, 'BestEffort');
    const cs = s.containerStatuses![0]!;
    assert.equal(cs.ready, true);
    assert.equal(cs.started, true);
    assert.equal(cs.containerID, `containerd://${c.id}`);
    assert.equal(cs.imageID, 'sha256:ab');
    assert.ok(cs.state.running?.startedAt);
    assert.deepEqual(
      s.conditions!.map((x) => [x.type, x.status]),
      [
        ['Initialized', 'True'],
        ['Ready', 'True'],
        ['ContainersReady', 'True'],
        ['PodScheduled', 'True'],
      ],
    );
  });

  it('is Pending with ContainerCreating / PodInitializing before containers run', () => {
    const p = pod('Always', ['a'], ['i1']);
    const s = computePodStatus(p, rt([], null), { now: NOW });
    assert.equal(s.phase, 'Pending');
    assert.equal(s.initContainerStatuses![0]!.state.waiting?.reason, 'PodInitializing');
    assert.equal(computePodStatus(pod('Always', ['a']), rt([], null), { now: NOW }).containerStatuses![0]!.state.waiting?.reason, 'ContainerCreating');
    assert.equal(s.containerStatuses![0]!.state.waiting?.reason, 'PodInitializing');
    const init = s.conditions!.find((c) => c.type === 'Initialized')!;
    assert.equal(init.status, 'False');
    assert.equal(init.reason, 'ContainersNotInitialized');
    assert.equal(init.message, 'containers with incomplete status: [i1]');
  });

  it('shows CrashLoopBackOff with the last exit in lastState', () => {
    const p = pod('Always', ['a']);
    const c1 = ctr(p, 'a', 'exited', 1, 0);
    const c2 = ctr(p, 'a', 'exited', 1, 1);
    const s = computePodStatus(p, rt([c1, c2]), {
      now: NOW,
      syncErrors: new Map([['a', { reason: 'CrashLoopBackOff', message: 'back-off 20s restarting failed container=a pod=p_default(u1)' }]]),
    });
    const cs = s.containerStatuses![0]!;
    assert.equal(cs.state.waiting?.reason, 'CrashLoopBackOff');
    assert.equal(cs.lastState.terminated?.exitCode, 1);
    assert.equal(cs.lastState.terminated?.reason, 'Error');
    assert.equal(cs.lastState.terminated?.containerID, `containerd://${c2.id}`);
    assert.equal(cs.restartCount, 1);
    assert.equal(s.phase, 'Running', 'restartPolicy Always keeps a crashing pod Running');
    assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.message, 'containers with unready status: [a]');
  });

  it('computes Succeeded and Failed phases of jobs', () => {
    const ok = pod('OnFailure', ['a', 'b']);
    assert.equal(computePodStatus(ok, rt([ctr(ok, 'a', 'exited', 0), ctr(ok, 'b', 'exited', 0)]), { now: NOW }).phase, 'Succeeded');
    const never = pod('Never', ['a', 'b']);
    const s = computePodStatus(never, rt([ctr(never, 'a', 'exited', 0), ctr(never, 'b', 'exited', 2)]), { now: NOW });
    assert.equal(s.phase, 'Failed');
    // Upstream: PodCompleted is for Succeeded only; a Failed pod's containers are simply unready.
    assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.reason, 'ContainersNotReady');
    assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.message, 'containers with unready status: [a b]');
    const initFail = pod('Never', ['a'], ['i1']);
    assert.equal(computePodStatus(initFail, rt([ctr(initFail, 'i1', 'exited', 1)]), { now: NOW }).phase, 'Failed');
  });

  it('follows readiness and startup probes, and keeps lastTransitionTime while unchanged', () => {
    const p = pod('Always', ['a']);
    const c = ctr(p, 'a', 'running');
    const unready = computePodStatus(p, rt([c]), { now: NOW, ready: () => false });
    assert.equal(unready.containerStatuses![0]!.ready, false);
    assert.equal(unready.conditions!.find((x) => x.type === 'Ready')!.status, 'False');
    const notStarted = computePodStatus(p, rt([c]), { now: NOW, started: () => false, ready: () => true });
    assert.equal(notStarted.containerStatuses![0]!.started, false);
    assert.equal(notStarted.containerStatuses![0]!.ready, false, 'not ready before the startup probe passes');
    const later = computePodStatus(p, rt([c]), { now: '2026-11-22T10:05:00Z', ready: () => false, previous: unready });
    assert.equal(later.conditions!.find((x) => x.type === 'Ready')!.lastTransitionTime, NOW);
    assert.equal(later.startTime, unready.startTime);
    const flipped = computePodStatus(p, rt([c]), { now: '2026-11-22T10:06:00Z', previous: later });
    assert.equal(flipped.conditions!.find((x) => x.type === 'Ready')!.lastTransitionTime, '2026-11-22T10:06:00Z');
  });

  it('classifies QoS', () => {
    const p = pod('Always', ['a']);
    p.spec.containers[0]!.resources = { limits: { cpu: '1', memory: '1Gi' } };
    assert.equal(qosClass(p), 'Guaranteed');
    p.spec.containers[0]!.resources = { limits: { cpu: '1', memory: '1Gi' }, requests: { cpu: '500m' } };
    assert.equal(qosClass(p), 'Burstable');
    p.spec.containers[0]!.resources = { requests: { memory: '0' } };
    assert.equal(qosClass(p), 'BestEffort');
  });
});

describe('restart backoff', () => {
  it('doubles from 10 s to 300 s and resets after 10 minutes untouched', () => {
    let now = 0;
    const b = new Backoff(10_000, 300_000, { now: () => now });
    const delays = Array.from({ length: 8 }, () => b.next('k', now));
    assert.deepEqual(delays, [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
    assert.equal(b.inBackOffSince('k', now), true);
    now += 299_000;
    assert.equal(b.inBackOffSince('k', 0), true);
    assert.equal(b.remaining('k', 0), 1000);
    now = 300_000;
    assert.equal(b.inBackOffSince('k', 0), false);
    now = 600_001;
    b.gc();
    assert.equal(b.size, 0, 'expired after 2 x max');
    assert.equal(b.next('k', now), 10_000);
  });
});
