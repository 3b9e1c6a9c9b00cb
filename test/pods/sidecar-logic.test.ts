// Sidecar containers (init containers with restartPolicy Always, upstream 1.28+ semantics) in the
// pure parts of SyncPod: which actions a sync takes (computePodActions, planSync) and which
// phase the status reports, on plain data. Every (sidecar state x app state x restart policy)
// combination that matters, plus a property: a sidecar never keeps a finished pod alive.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Container, Pod } from '../../src/api/core-v1.js';
import { computePodActions } from '../../src/pods/actions.js';
import { computePodStatus } from '../../src/pods/status.js';
import { Backoff } from '../../src/pods/backoff.js';
import { containerHash } from '../../src/pods/hash.js';
import { planSync } from '../../src/pods/sync.js';
import type { PodRuntimeState, RuntimeContainer } from '../../src/pods/runtime-state.js';

type Policy = 'Always' | 'OnFailure' | 'Never';

/** inits: names; a name starting with `s` is a sidecar (restartPolicy Always). */
function pod(restartPolicy: Policy, apps: string[], inits: string[]): Pod {
  const init = (name: string): Container => ({ name, image: 'busybox:1.35', ...(name.startsWith('s') ? { restartPolicy: 'Always' as const } : {}) });
  return {
    metadata: { name: 'p', namespace: 'default', uid: 'u1' },
    spec: { restartPolicy, containers: apps.map((name) => ({ name, image: 'busybox:1.35' })), initContainers: inits.map(init) },
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
    image: 'busybox:1.35',
    imageRef: 'sha256:ab',
  };
}

function rt(containers: RuntimeContainer[], sandbox = true): PodRuntimeState {
  return {
    uid: 'u1',
    name: 'p',
    namespace: 'default',
    sandboxes: sandbox ? [{ id: 's1', attempt: 0, ready: true, createdAt: 1, ips: ['10.88.0.5'], hostNetwork: false }] : [],
    containers: [...containers].reverse(),
  };
}

const NOW = '2026-12-02T07:00:00Z';

describe('sidecars: computePodActions', () => {
  it('a new pod starts the sidecar first, as the first init container', () => {
    const p = pod('Always', ['a'], ['s1', 'i1']);
    const a = computePodActions(p, rt([], false));
    assert.equal(a.nextInitContainer, 0);
    assert.deepEqual(a.containersToStart, []);
  });

  it('the next init container starts once the sidecar runs (not exits)', () => {
    const p = pod('Always', ['a'], ['s1', 'i1']);
    assert.equal(computePodActions(p, rt([ctr(p, 's1', 'created')])).nextInitContainer, undefined, 'created is not started');
    assert.equal(computePodActions(p, rt([ctr(p, 's1', 'running')])).nextInitContainer, 1);
  });

  it('app containers start once the last init container is a running sidecar', () => {
    const p = pod('Always', ['a', 'b'], ['i1', 's1']);
    const a = computePodActions(p, rt([ctr(p, 'i1', 'exited', 0), ctr(p, 's1', 'running')]));
    assert.equal(a.nextInitContainer, undefined);
    assert.deepEqual(a.containersToStart, [0, 1]);
    assert.deepEqual(a.sidecarsToStart, []);
  });

  it('a regular init container after a sidecar still has to succeed before the apps', () => {
    const p = pod('Always', ['a'], ['s1', 'i1']);
    const running = computePodActions(p, rt([ctr(p, 's1', 'running'), ctr(p, 'i1', 'running')]));
    assert.equal(running.nextInitContainer, undefined);
    assert.deepEqual(running.containersToStart, []);
    const failed = computePodActions(p, rt([ctr(p, 's1', 'running'), ctr(p, 'i1', 'exited', 1)]));
    assert.equal(failed.nextInitContainer, 1, 'a failed regular init container is retried');
    const done = computePodActions(p, rt([ctr(p, 's1', 'running'), ctr(p, 'i1', 'exited', 0)]));
    assert.deepEqual(done.containersToStart, [0]);
  });

  for (const policy of ['Always', 'OnFailure', 'Never'] as const) {
    for (const exit of [0, 1]) {
      it(`a sidecar that exited ${exit} is restarted while the apps run (restartPolicy ${policy})`, () => {
        const p = pod(policy, ['a'], ['s1']);
        const a = computePodActions(p, rt([ctr(p, 's1', 'exited', exit), ctr(p, 'a', 'running')]));
        assert.deepEqual(a.sidecarsToStart, [0]);
        assert.equal(a.killPod, false);
      });

      it(`a sidecar that exited ${exit} during initialization is restarted too (restartPolicy ${policy})`, () => {
        const p = pod(policy, ['a'], ['s1', 'i1']);
        const a = computePodActions(p, rt([ctr(p, 's1', 'exited', exit), ctr(p, 'i1', 'running')]));
        assert.deepEqual(a.sidecarsToStart, [0]);
        assert.equal(a.nextInitContainer, undefined);
      });
    }
  }

  it('a sidecar whose container is gone while the apps run is started again', () => {
    const p = pod('Always', ['a'], ['s1']);
    assert.deepEqual(computePodActions(p, rt([ctr(p, 'a', 'running')])).sidecarsToStart, [0]);
  });

  it('a running sidecar whose spec changed is killed and restarted', () => {
    const p = pod('Always', ['a'], ['s1']);
    const old = { ...ctr(p, 's1', 'running'), hash: 'old' };
    const a = computePodActions(p, rt([old, ctr(p, 'a', 'running')]));
    assert.deepEqual(a.containersToKill, [{ id: old.id, name: 's1', reason: 'SpecChanged', message: 'Container s1 definition changed, will be restarted' }]);
    assert.deepEqual(a.sidecarsToStart, [0]);
  });

  it('a failed liveness probe restarts a sidecar', () => {
    const p = pod('Always', ['a'], ['s1']);
    const s = ctr(p, 's1', 'running');
    const a = computePodActions(p, rt([s, ctr(p, 'a', 'running')]), { livenessFailed: (name) => name === 's1' });
    assert.equal(a.containersToKill[0]?.reason, 'Unhealthy');
    assert.deepEqual(a.sidecarsToStart, [0]);
  });

  for (const policy of ['OnFailure', 'Never'] as const) {
    it(`a Job-like pod (${policy}) whose apps succeeded is killed with its running sidecar`, () => {
      const p = pod(policy, ['a'], ['s1']);
      const a = computePodActions(p, rt([ctr(p, 's1', 'running'), ctr(p, 'a', 'exited', 0)]));
      assert.equal(a.killPod, true);
      assert.deepEqual(a.sidecarsToStart, [], 'the sidecar is not kept nor restarted');
    });
  }

  it('a Never pod whose app failed is killed with its sidecar, which is not restarted', () => {
    const p = pod('Never', ['a'], ['s1']);
    const a = computePodActions(p, rt([ctr(p, 's1', 'exited', 137), ctr(p, 'a', 'exited', 1)]));
    assert.equal(a.killPod, true);
    assert.deepEqual(a.sidecarsToStart, []);
  });

  it('property: once no app container should run, no sidecar is (re)started and the pod is killed', () => {
    const states = fc.constantFrom<[RuntimeContainer['state'], number]>(['running', 0], ['exited', 0], ['exited', 1], ['exited', 137], ['created', 0]);
    fc.assert(
      fc.property(fc.constantFrom<'OnFailure' | 'Never'>('OnFailure', 'Never'), states, fc.integer({ min: 0, max: 1 }), (policy, [sState, sExit], appExit) => {
        const p = pod(policy, ['a'], ['s1']);
        // The app is done for good: succeeded (both policies) or failed under Never.
        const exit = policy === 'OnFailure' ? 0 : appExit;
        const a = computePodActions(p, rt([ctr(p, 's1', sState, sExit), ctr(p, 'a', 'exited', exit)]));
        return a.killPod && a.sidecarsToStart.length === 0 && a.containersToStart.length === 0;
      }),
    );
  });
});

describe('sidecars: planSync', () => {
  it('a sidecar restart goes through crash backoff like any container', () => {
    const p = pod('Always', ['a'], ['s1']);
    let now = 10_000;
    const clock = { now: () => now };
    const ctx = { now, crashBackoff: new Backoff(10_000, 300_000, clock), pullBackoff: new Backoff(10_000, 300_000, clock) };
    const state = rt([ctr(p, 's1', 'exited', 1), ctr(p, 'a', 'running')]);
    const first = planSync(p, state, ctx);
    assert.deepEqual(
      first.start.map((s) => [s.kind, s.name, s.restartCount]),
      [['init', 's1', 1]],
    );
    now += 1000;
    const second = planSync(p, state, { ...ctx, now });
    assert.deepEqual(second.start, []);
    assert.equal(second.waiting['s1']?.reason, 'CrashLoopBackOff');
  });
});

describe('sidecars: phase and conditions', () => {
  it('Pending until the sidecar runs, Running with it and the apps', () => {
    const p = pod('Always', ['a'], ['s1']);
    assert.equal(computePodStatus(p, rt([ctr(p, 's1', 'created')]), { now: NOW }).phase, 'Pending');
    const s = computePodStatus(p, rt([ctr(p, 's1', 'running'), ctr(p, 'a', 'running')]), { now: NOW });
    assert.equal(s.phase, 'Running');
    assert.equal(s.conditions?.find((c) => c.type === 'Initialized')?.status, 'True');
    assert.equal(s.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  });

  it('a Never pod whose app succeeded and whose sidecar was killed (137) is Succeeded, not Failed', () => {
    const p = pod('Never', ['a'], ['s1']);
    assert.equal(computePodStatus(p, rt([ctr(p, 's1', 'exited', 137), ctr(p, 'a', 'exited', 0)]), { now: NOW }).phase, 'Succeeded');
  });

  it('a Never pod whose app failed is Failed whatever the sidecar did', () => {
    const p = pod('Never', ['a'], ['s1']);
    assert.equal(computePodStatus(p, rt([ctr(p, 's1', 'exited', 0), ctr(p, 'a', 'exited', 2)]), { now: NOW }).phase, 'Failed');
  });

  it('Running while the app succeeded but the sidecar still runs (the sync kills it next)', () => {
    const p = pod('OnFailure', ['a'], ['s1']);
    assert.equal(computePodStatus(p, rt([ctr(p, 's1', 'running'), ctr(p, 'a', 'exited', 0)]), { now: NOW }).phase, 'Running');
  });

  it('a regular init container that failed still fails a Never pod', () => {
    const p = pod('Never', ['a'], ['s1', 'i1']);
    assert.equal(computePodStatus(p, rt([ctr(p, 's1', 'running'), ctr(p, 'i1', 'exited', 1)]), { now: NOW }).phase, 'Failed');
  });
});
