// activeDeadlineSeconds in the pod worker's pure transition: a sync that knows the pod's
// deadline makes the worker wake up for it (instead of at the next resync, up to 1.5 min later),
// and the sync that finds the deadline passed ends the pod like any finished pod.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../src/api/core-v1.js';
import {
  initialPodWorkerState,
  podWorkerTransition,
  type PodWorkerConfig,
  type PodWorkerEffect,
  type PodWorkerMessage,
  type PodWorkerState,
} from '../../src/actors/pod-workers/logic.js';

const CFG: PodWorkerConfig = { syncFrequencyMs: 60_000, errorBackoffMs: 10_000, networkNotReadyBackoffMs: 1000, random: () => 0 };

function pod(): Pod {
  return { metadata: { name: 'p', namespace: 'default', uid: 'u1' }, spec: { activeDeadlineSeconds: 5, containers: [{ name: 'c', image: 'i:1' }] } };
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

describe('pod worker: active deadline', () => {
  it('wakes up at the deadline when it comes before the resync', () => {
    const first = run(initialPodWorkerState(pod()), { type: 'tick', at: 0 });
    const done = run(first.state, { type: 'sync-done', work: 1, outcome: 'ok', podFinished: false, at: 1000, deadlineAt: 5000 });
    assert.deepEqual(done.effects, [{ type: 'schedule', at: 5000 }]);
    const early = run(done.state, { type: 'tick', at: 4999 });
    assert.deepEqual(early.effects, [{ type: 'schedule', at: 5000 }], 'no sync before the deadline, only the timer set again');
    const due = run(done.state, { type: 'tick', at: 5000 });
    assert.deepEqual(
      due.effects.map((e) => e.type),
      ['sync'],
    );
  });

  it('keeps an earlier requeue (a backoff that ends first) and never schedules in the past', () => {
    const first = run(initialPodWorkerState(pod()), { type: 'tick', at: 0 });
    const backoff = run(first.state, { type: 'sync-done', work: 1, outcome: 'ok', podFinished: false, at: 1000, retryAfterMs: 500, deadlineAt: 5000 });
    assert.deepEqual(backoff.effects, [{ type: 'schedule', at: 1500 }]);
    const late = run(first.state, { type: 'sync-done', work: 1, outcome: 'error', podFinished: false, at: 9000, deadlineAt: 5000 });
    assert.deepEqual(late.effects, [{ type: 'schedule', at: 9000 }]);
  });

  it('a far deadline leaves the usual resync alone', () => {
    const first = run(initialPodWorkerState(pod()), { type: 'tick', at: 0 });
    const done = run(first.state, { type: 'sync-done', work: 1, outcome: 'ok', podFinished: false, at: 1000, deadlineAt: 3_600_000 });
    assert.deepEqual(done.effects, [{ type: 'schedule', at: 61_000 }]);
  });

  it('the sync that finds the deadline passed finishes the pod: it terminates with its grace period', () => {
    const first = run(initialPodWorkerState(pod()), { type: 'tick', at: 0 });
    const done = run(first.state, { type: 'sync-done', work: 1, outcome: 'ok', podFinished: true, at: 5000, deadlineAt: 5000 });
    assert.equal(done.state.lifecycle, 'terminating');
    assert.deepEqual(
      done.effects.map((e) => e.type),
      ['terminate'],
    );
    assert.equal(done.effects[0]?.type === 'terminate' ? done.effects[0].gracePeriodSeconds : -1, 30);
  });
});
