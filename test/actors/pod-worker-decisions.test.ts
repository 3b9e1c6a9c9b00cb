// The pod worker's decisions as pure functions and transitions (issue 18), table style: the
// active deadline, the finished phases, a sync's outcome by the failure's reason (not by an
// error's text), the terminal status a kill carries (an eviction's Failed/Evicted), the first
// terminal status kept, the deadline passing, and admission's refusal.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../src/api/core-v1.js';
import {
  DEADLINE_EXCEEDED,
  activeDeadlineAt,
  initialPodWorkerState,
  isFinishedPhase,
  podWorkerTransition,
  syncOutcome,
  type PodWorkerConfig,
  type PodWorkerEffect,
  type PodWorkerMessage,
  type PodWorkerState,
  type SyncReport,
  type TerminalStatus,
} from '../../src/actors/pod-workers/logic.js';
import { sandboxFailureReason } from '../../src/pods/sync.js';
import { CriRuntimeError, CriUnavailableError } from '../../src/native/cri/errors.js';

const CFG: PodWorkerConfig = { syncFrequencyMs: 60_000, errorBackoffMs: 10_000, networkNotReadyBackoffMs: 1000, random: () => 0 };

function pod(deadline?: number): Pod {
  return {
    metadata: { name: 'p', namespace: 'default', uid: 'u1' },
    spec: {
      terminationGracePeriodSeconds: 30,
      containers: [{ name: 'c', image: 'i:1' }],
      ...(deadline === undefined ? {} : { activeDeadlineSeconds: deadline }),
    },
  };
}

function run(s: PodWorkerState, ...ms: PodWorkerMessage[]): { state: PodWorkerState; effects: PodWorkerEffect[] } {
  const effects: PodWorkerEffect[] = [];
  for (const m of ms) {
    const r = podWorkerTransition(s, m, CFG);
    s = r.state;
    effects.push(...r.effects);
  }
  return { state: s, effects };
}

const EVICTED: TerminalStatus = { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' };

describe('pod worker decisions', () => {
  it('active deadline: from startTime, else first seen; none without a positive activeDeadlineSeconds', () => {
    const table: [Pod, string | undefined, number, number | undefined][] = [
      [pod(), undefined, 1000, undefined],
      [pod(0), '2026-12-07T10:00:00Z', 1000, undefined],
      [pod(-5), undefined, 1000, undefined],
      [pod(30), '2026-12-07T10:00:00Z', 1000, Date.parse('2026-12-07T10:00:00Z') + 30_000],
      [pod(30), undefined, 1000, 31_000],
      [pod(30), 'not a time', 1000, 31_000],
    ];
    for (const [p, start, seen, want] of table)
      assert.equal(activeDeadlineAt(p, start, seen), want, `deadline ${String(p.spec.activeDeadlineSeconds)} start ${String(start)}`);
  });

  it('finished phases: Succeeded and Failed only', () => {
    const table: [string | undefined, boolean][] = [
      ['Succeeded', true],
      ['Failed', true],
      ['Running', false],
      ['Pending', false],
      ['Unknown', false],
      [undefined, false],
    ];
    for (const [phase, want] of table) assert.equal(isFinishedPhase(phase), want, String(phase));
  });

  it('sync outcome by the failure reason: network 1 s, other failures 10 s, backoffs are not failures', () => {
    const table: [SyncReport, string][] = [
      [{ killErrors: [], waitingReasons: [] }, 'ok'],
      [{ killErrors: [], waitingReasons: ['CrashLoopBackOff', 'ImagePullBackOff'] }, 'ok'],
      [{ killErrors: [], waitingReasons: ['CrashLoopBackOff', 'ErrImagePull'] }, 'error'],
      [{ killErrors: [], waitingReasons: ['CreateContainerConfigError'] }, 'error'],
      [{ killErrors: ['StopContainer c1: deadline exceeded'], waitingReasons: [] }, 'error'],
      [{ sandboxFailure: { reason: 'network-not-ready' }, killErrors: [], waitingReasons: [] }, 'network-not-ready'],
      [{ sandboxFailure: { reason: 'runtime' }, killErrors: [], waitingReasons: [] }, 'error'],
      [{ sandboxFailure: { reason: 'config' }, killErrors: [], waitingReasons: [] }, 'error'],
    ];
    for (const [report, want] of table) assert.equal(syncOutcome(report), want, JSON.stringify(report));
  });

  it('the sync classifies a sandbox failure at the runtime boundary', () => {
    const table: [unknown, string][] = [
      [
        new CriRuntimeError('failed to setup network for sandbox "abc": plugin type="bridge" failed (add)', { operation: 'run_podsandbox' }),
        'network-not-ready',
      ],
      [new CriRuntimeError('cni plugin not initialized', { operation: 'run_podsandbox' }), 'network-not-ready'],
      [new CriUnavailableError('connection refused', { operation: 'run_podsandbox' }), 'runtime'],
      [new Error('image "pause:3.9" not found'), 'runtime'],
    ];
    for (const [err, want] of table) assert.equal(sandboxFailureReason(err), want, String(err));
  });

  it('a kill carrying a terminal status keeps it; a later one does not replace it', () => {
    const synced = run(initialPodWorkerState(pod()), { type: 'tick', at: 0 });
    const killed = run(synced.state, { type: 'kill', reason: 'evicted', gracePeriodSeconds: 0, status: EVICTED, at: 1 });
    assert.deepEqual(killed.state.terminal, EVICTED);
    assert.equal(killed.state.lifecycle, 'terminating');
    assert.deepEqual(
      killed.effects.map((e) => e.type),
      ['cancel', 'terminate'],
      'the sync is cancelled and the kill starts',
    );
    const again = run(killed.state, { type: 'kill', reason: 'deleted', status: { phase: 'Failed', reason: 'Other', message: 'x' }, at: 2 });
    assert.deepEqual(again.state.terminal, EVICTED);
    const plain = run(synced.state, { type: 'kill', reason: 'removed from file', at: 1 });
    assert.equal(plain.state.terminal, undefined, 'a plain kill reports no terminal status');
  });

  it('the active deadline passing: Failed/DeadlineExceeded with one event, kept once set', () => {
    const synced = run(initialPodWorkerState(pod(5)), { type: 'tick', at: 0 });
    const passed = run(synced.state, { type: 'deadline-passed', at: 6000 });
    assert.deepEqual(passed.state.terminal, DEADLINE_EXCEEDED);
    assert.deepEqual(passed.effects, [
      { type: 'event', event: { type: 'Normal', reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' } },
    ]);
    const twice = run(passed.state, { type: 'deadline-passed', at: 7000 });
    assert.deepEqual(twice.effects, [], 'no second event');
    const evicted = run(run(synced.state, { type: 'kill', reason: 'evicted', status: EVICTED, at: 1 }).state, { type: 'deadline-passed', at: 6000 });
    assert.deepEqual(evicted.state.terminal, EVICTED, 'an evicted pod stays Evicted');
  });

  it('admission refusal: terminated at once, Failed with the reason, one Warning event, nothing runs', () => {
    const r = run(initialPodWorkerState(pod()), { type: 'reject', reason: 'OutOfmemory', message: "Node didn't have enough resource: memory", at: 0 });
    assert.equal(r.state.lifecycle, 'terminated');
    assert.deepEqual(r.state.terminal, { phase: 'Failed', reason: 'OutOfmemory', message: "Pod Node didn't have enough resource: memory" });
    assert.deepEqual(r.effects, [{ type: 'event', event: { type: 'Warning', reason: 'OutOfmemory', message: "Node didn't have enough resource: memory" } }]);
    const later = run(r.state, { type: 'tick', at: 1 }, { type: 'runtime-event', at: 2 }, { type: 'update', pod: pod(), at: 3 });
    assert.deepEqual(later.effects, [], 'a refused pod never syncs');
    const ran = run(initialPodWorkerState(pod()), { type: 'tick', at: 0 }, { type: 'reject', reason: 'OutOfcpu', message: 'x', at: 1 });
    assert.equal(ran.state.lifecycle, 'syncing', "a worker that already worked is not admission's to refuse");
    assert.equal(ran.state.terminal, undefined);
  });
});
