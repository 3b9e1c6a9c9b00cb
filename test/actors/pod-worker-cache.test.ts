// The pod worker's rule for its runtime-state cache, table style (issue 18): when a sync may
// skip its inspection (no change task running, and the cached state read after the last one
// ended), and whether a PLEG state is news (stale against a newer read-back, or changed in content
// though the PLEG saw no event).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  cacheUsable,
  changeEnded,
  changeStarted,
  freshCacheCurrency,
  inspected,
  plegStateArrived,
  plegStateVerdict,
  type CacheCurrency,
} from '../../src/actors/pod-workers/logic.js';
import type { PodRuntimeState } from '../../src/pods/runtime-state.js';

type Step = (c: CacheCurrency) => CacheCurrency;

function state(observedAt: number | undefined, containers: [string, 'running' | 'exited'][] = [], source?: 'event'): PodRuntimeState {
  return {
    uid: 'u',
    name: 'p',
    namespace: 'default',
    sandboxes: [],
    containers: containers.map(([id, st]) => ({ id, name: 'c', state: st, attempt: 0 }) as unknown as PodRuntimeState['containers'][number]),
    ...(observedAt !== undefined ? { observedAt } : {}),
    ...(source ? { source } : {}),
  };
}

describe('pod worker: cache currency', () => {
  const table: { what: string; steps: Step[]; usable: boolean }[] = [
    { what: 'a new worker inspects', steps: [], usable: false },
    { what: 'a clean inspection makes the cache current', steps: [(c) => inspected(c, true)], usable: true },
    { what: 'an inspection sent while a change ran does not', steps: [changeStarted, (c) => changeEnded(c, 10), (c) => inspected(c, false)], usable: false },
    { what: 'a change task makes it behind', steps: [(c) => inspected(c, true), changeStarted], usable: false },
    { what: 'still behind while a change runs, even after a clean-sent inspection', steps: [changeStarted, (c) => inspected(c, true)], usable: false },
    { what: 'the change ended: still behind until something reads', steps: [changeStarted, (c) => changeEnded(c, 10)], usable: false },
    {
      what: 'a relist state observed after the change ended: current',
      steps: [changeStarted, (c) => changeEnded(c, 10), (c) => plegStateArrived(c, state(11))],
      usable: true,
    },
    {
      what: 'a relist state observed before the change ended: not',
      steps: [changeStarted, (c) => changeEnded(c, 10), (c) => plegStateArrived(c, state(9))],
      usable: false,
    },
    {
      what: 'an event-built state is not enough',
      steps: [changeStarted, (c) => changeEnded(c, 10), (c) => plegStateArrived(c, state(11, [], 'event'))],
      usable: false,
    },
    { what: 'a state arriving while a change runs: not', steps: [changeStarted, (c) => plegStateArrived(c, state(50))], usable: false },
    { what: 'two changes, one ended: not', steps: [changeStarted, changeStarted, (c) => changeEnded(c, 10), (c) => inspected(c, true)], usable: false },
  ];
  for (const row of table) {
    it(row.what, () => {
      const c = row.steps.reduce((acc, step) => step(acc), freshCacheCurrency);
      assert.equal(cacheUsable(c), row.usable);
    });
  }

  it('never counts below zero changes, and leaves the start value alone', () => {
    assert.equal(changeEnded(freshCacheCurrency, 5).changing, 0);
    changeStarted(freshCacheCurrency);
    assert.deepEqual(freshCacheCurrency, { changing: 0, changedAt: 0, current: false });
  });
});

describe('pod worker: is a PLEG state news', () => {
  const running = state(100, [['a', 'running']]);
  const table: { what: string; prev: PodRuntimeState | undefined; next: PodRuntimeState; changed: boolean; want: { stale: boolean; changed: boolean } }[] = [
    { what: 'first state, no event', prev: undefined, next: running, changed: false, want: { stale: false, changed: false } },
    { what: 'same content, no event', prev: running, next: state(200, [['a', 'running']]), changed: false, want: { stale: false, changed: false } },
    { what: 'same content, with an event', prev: running, next: state(200, [['a', 'running']]), changed: true, want: { stale: false, changed: true } },
    {
      what: 'content differs, no event (a baseline relist)',
      prev: running,
      next: state(200, [['a', 'exited']]),
      changed: false,
      want: { stale: false, changed: true },
    },
    { what: 'observed before the cached read-back', prev: running, next: state(50, [['a', 'exited']]), changed: false, want: { stale: true, changed: false } },
    { what: 'stale, but its event still wakes the worker', prev: running, next: state(50), changed: true, want: { stale: true, changed: true } },
    {
      what: 'no observation time is never stale',
      prev: running,
      next: state(undefined, [['b', 'running']]),
      changed: false,
      want: { stale: false, changed: true },
    },
  ];
  for (const row of table) it(row.what, () => assert.deepEqual(plegStateVerdict(row.prev, row.next, row.changed), row.want));
});
