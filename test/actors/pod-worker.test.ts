// The pod worker's lifecycle rules, on plain data: examples for each rule, then fast-check
// runs random message sequences through the transition with a harness that answers its work.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Pod } from '../../src/api/core-v1.js';
import {
  initialPodWorkerState,
  podWorkerTransition,
  type Lifecycle,
  type PodWorkerConfig,
  type PodWorkerEffect,
  type PodWorkerMessage,
  type PodWorkerState,
} from '../../src/actors/pod-workers/logic.js';

const CFG: PodWorkerConfig = { syncFrequencyMs: 60_000, errorBackoffMs: 10_000, networkNotReadyBackoffMs: 1000, random: () => 0 };

function pod(version: number, grace = 30): Pod {
  return {
    metadata: { name: 'p', namespace: 'default', uid: 'u1', resourceVersion: String(version) },
    spec: { terminationGracePeriodSeconds: grace, containers: [{ name: 'c', image: 'i:1' }] },
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

function start(): { state: PodWorkerState; effects: PodWorkerEffect[] } {
  return run(initialPodWorkerState(pod(1)), { type: 'tick', at: 0 });
}

describe('pod worker lifecycle', () => {
  it('syncs a new pod at once, then requeues after sync-frequency', () => {
    const { state, effects } = start();
    assert.deepEqual(
      effects.map((e) => e.type),
      ['sync'],
    );
    const r = run(state, { type: 'sync-done', work: 1, outcome: 'ok', podFinished: false, at: 1000 });
    assert.deepEqual(r.effects, [{ type: 'schedule', at: 61_000 }]);
    // A timer that fires early (Node's may, by a millisecond) does not sync, and sets the timer
    // again: without it the pod would wait for its next event (seen: stuck for minutes).
    assert.deepEqual(run(r.state, { type: 'tick', at: 60_999 }).effects, [{ type: 'schedule', at: 61_000 }], 'not before its time, but scheduled again');
    assert.deepEqual(
      run(r.state, { type: 'tick', at: 61_000 }).effects.map((e) => e.type),
      ['sync'],
    );
  });

  it('keeps one sync in flight and syncs only the latest update after it', () => {
    const { state } = start();
    const r = run(state, { type: 'update', pod: pod(2), at: 1 }, { type: 'update', pod: pod(3), at: 2 });
    assert.deepEqual(r.effects, [], 'no second sync while one runs');
    const done = run(r.state, { type: 'sync-done', work: 1, outcome: 'ok', podFinished: false, at: 3 });
    assert.deepEqual(
      done.effects.map((e) => e.type),
      ['sync'],
    );
    const sync = done.effects[0] as Extract<PodWorkerEffect, { type: 'sync' }>;
    assert.equal(sync.pod.metadata.resourceVersion, '3', 'latest wins');
  });

  it('backs off 10 s after an error, 1 s when the network is not ready, or as the sync says', () => {
    const { state } = start();
    assert.deepEqual(run(state, { type: 'sync-done', work: 1, outcome: 'error', podFinished: false, at: 0 }).effects, [{ type: 'schedule', at: 10_000 }]);
    assert.deepEqual(run(state, { type: 'sync-done', work: 1, outcome: 'network-not-ready', podFinished: false, at: 0 }).effects, [
      { type: 'schedule', at: 1000 },
    ]);
    assert.deepEqual(run(state, { type: 'sync-done', work: 1, outcome: 'error', podFinished: false, at: 0, retryAfterMs: 20_000 }).effects, [
      { type: 'schedule', at: 20_000 },
    ]);
  });

  it('a kill cancels the running sync, terminates with the grace period, and ends terminated', () => {
    const { state } = start();
    const k = run(state, { type: 'kill', reason: 'removed', gracePeriodSeconds: 5, at: 1 });
    assert.deepEqual(
      k.effects.map((e) => e.type),
      ['cancel', 'terminate'],
    );
    const t = k.effects[1] as Extract<PodWorkerEffect, { type: 'terminate' }>;
    assert.equal(t.gracePeriodSeconds, 5);
    assert.equal(k.state.lifecycle, 'terminating');
    const stale = run(k.state, { type: 'sync-done', work: 1, outcome: 'ok', podFinished: false, at: 2 });
    assert.deepEqual(stale.effects, [], 'the cancelled sync result is ignored');
    const done = run(stale.state, { type: 'terminate-done', work: t.work, ok: true, at: 3 });
    assert.equal(done.state.lifecycle, 'terminated');
    assert.deepEqual(
      done.effects.map((e) => e.type),
      ['terminated'],
    );
    assert.deepEqual(
      run(done.state, { type: 'update', pod: pod(9), at: 4 }, { type: 'runtime-event', at: 5 }, { type: 'tick', at: 1e9 }).effects,
      [],
      'a terminated UID never runs again',
    );
  });

  it('a shorter grace period restarts the termination; a longer one is ignored', () => {
    const { state } = start();
    const k = run(state, { type: 'kill', reason: 'deleted', gracePeriodSeconds: 30, at: 1 });
    const longer = run(k.state, { type: 'kill', reason: 'deleted', gracePeriodSeconds: 60, at: 2 });
    assert.deepEqual(longer.effects, []);
    const shorter = run(k.state, { type: 'kill', reason: 'deleted', gracePeriodSeconds: 0, at: 2 });
    assert.deepEqual(
      shorter.effects.map((e) => e.type),
      ['cancel', 'terminate'],
    );
    assert.equal((shorter.effects[1] as Extract<PodWorkerEffect, { type: 'terminate' }>).gracePeriodSeconds, 0);
  });

  it('an update with deletionTimestamp terminates with the deletion grace period', () => {
    const { state } = start();
    const deleted = pod(2);
    deleted.metadata.deletionTimestamp = '2026-11-22T10:00:00Z';
    deleted.metadata.deletionGracePeriodSeconds = 7;
    const r = run(state, { type: 'update', pod: deleted, at: 1 });
    assert.equal(r.state.lifecycle, 'terminating');
    assert.equal((r.effects.find((e) => e.type === 'terminate') as Extract<PodWorkerEffect, { type: 'terminate' }>).gracePeriodSeconds, 7);
  });

  it('a pod whose containers are done terminates on its own', () => {
    const { state } = start();
    const r = run(state, { type: 'sync-done', work: 1, outcome: 'ok', podFinished: true, at: 1 });
    assert.equal(r.state.lifecycle, 'terminating');
    assert.deepEqual(
      r.effects.map((e) => e.type),
      ['terminate'],
    );
  });

  it('retries a failed termination after the error backoff', () => {
    const k = run(start().state, { type: 'kill', reason: 'removed', at: 1 });
    const work = (k.effects.find((e) => e.type === 'terminate') as Extract<PodWorkerEffect, { type: 'terminate' }>).work;
    const failed = run(k.state, { type: 'terminate-done', work, ok: false, at: 10 });
    assert.deepEqual(failed.effects, [{ type: 'schedule', at: 10_010 }]);
    assert.deepEqual(
      run(failed.state, { type: 'tick', at: 10_010 }).effects.map((e) => e.type),
      ['terminate'],
    );
  });

  it('holds its invariants under any message sequence (property)', () => {
    const ORDER: Record<Lifecycle, number> = { syncing: 0, terminating: 1, terminated: 2 };
    const msg = fc.oneof(
      fc.record({ kind: fc.constant('update' as const), deleted: fc.boolean() }),
      fc.record({ kind: fc.constant('kill' as const), grace: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }) }),
      fc.record({
        kind: fc.constant('finish' as const),
        outcome: fc.constantFrom<'ok' | 'error' | 'network-not-ready'>('ok', 'error', 'network-not-ready'),
        podFinished: fc.boolean(),
        ok: fc.boolean(),
      }),
      fc.record({ kind: fc.constant('runtime-event' as const) }),
      fc.record({ kind: fc.constant('tick' as const), advance: fc.integer({ min: 0, max: 120_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(msg, { maxLength: 60 }), (script) => {
        let s = initialPodWorkerState(pod(1));
        let now = 0;
        let version = 1;
        let newest = 1;
        const open = new Map<number, 'sync' | 'terminate'>();
        let grace: number | undefined;
        const apply = (m: PodWorkerMessage): void => {
          const before = s;
          const r = podWorkerTransition(s, m, CFG);
          s = r.state;
          assert.ok(ORDER[s.lifecycle] >= ORDER[before.lifecycle], 'lifecycle is one-way');
          if (before.lifecycle === 'terminated') assert.deepEqual(r.effects, [], 'nothing after terminated');
          for (const e of r.effects) {
            if (e.type === 'cancel') open.delete(e.work);
            if (e.type === 'sync') {
              assert.equal(s.lifecycle, 'syncing', 'no sync once terminating');
              assert.equal(e.pod.metadata.resourceVersion, String(newest), 'syncs the latest pod');
              open.set(e.work, 'sync');
            }
            if (e.type === 'terminate') {
              if (grace !== undefined) assert.ok(e.gracePeriodSeconds <= grace, 'grace period never grows');
              grace = e.gracePeriodSeconds;
              open.set(e.work, 'terminate');
            }
            assert.ok(open.size <= 1, 'one piece of work in flight');
          }
        };
        apply({ type: 'tick', at: now });
        for (const step of script) {
          now += 1;
          switch (step.kind) {
            case 'update': {
              version++;
              const p = pod(version);
              if (step.deleted) p.metadata.deletionTimestamp = 'x';
              if (s.lifecycle !== 'terminated') newest = version;
              apply({ type: 'update', pod: p, at: now });
              break;
            }
            case 'kill':
              apply({ type: 'kill', reason: 'test', ...(step.grace === undefined ? {} : { gracePeriodSeconds: step.grace }), at: now });
              break;
            case 'finish': {
              const [work, kind] = [...open.entries()][0] ?? [];
              if (work === undefined) break;
              open.delete(work);
              apply(
                kind === 'sync'
                  ? { type: 'sync-done', work, outcome: step.outcome, podFinished: step.podFinished, at: now }
                  : { type: 'terminate-done', work, ok: step.ok, at: now },
              );
              break;
            }
            case 'runtime-event':
              apply({ type: 'runtime-event', at: now });
              break;
            case 'tick':
              now += step.advance;
              apply({ type: 'tick', at: now });
              break;
          }
        }
        // Liveness: once killed, answering every piece of work with success ends terminated.
        apply({ type: 'kill', reason: 'end', at: ++now });
        for (let i = 0; i < 5 && s.lifecycle !== 'terminated'; i++) {
          const [work, kind] = [...open.entries()][0] ?? [];
          if (work === undefined) {
            now += 60_000;
            apply({ type: 'tick', at: now });
            continue;
          }
          open.delete(work);
          apply(
            kind === 'sync' ? { type: 'sync-done', work, outcome: 'ok', podFinished: false, at: ++now } : { type: 'terminate-done', work, ok: true, at: ++now },
          );
        }
        assert.equal(s.lifecycle, 'terminated', 'a killed pod worker ends terminated');
      }),
      { numRuns: 500 },
    );
  });
});
