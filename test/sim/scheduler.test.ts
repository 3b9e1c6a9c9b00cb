// The sim's one-timer scheduler (a min-heap on the injected clock): whatever is scheduled and
// cancelled, the survivors fire exactly once, in due order (ties in scheduling order), at their
// due time, and cancelled tasks never fire. Property-tested with fast-check.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock, Scheduler } from '../../src/sim/clock.js';

describe('sim scheduler', () => {
  it('fires surviving tasks once each, in due order, at their due time', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ ms: fc.integer({ min: 0, max: 5000 }), cancel: fc.boolean() }), { maxLength: 200 }),
        fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 10 }),
        (tasks, steps) => {
          const clock = new ManualClock(0);
          const scheduler = new Scheduler(clock);
          const fired: { i: number; at: number }[] = [];
          const expected: { i: number; due: number }[] = [];
          const handles = tasks.map((t, i) => {
            const due = clock.now() + t.ms;
            const h = scheduler.after(t.ms, () => fired.push({ i, at: clock.now() }));
            if (!t.cancel) expected.push({ i, due });
            return h;
          });
          tasks.forEach((t, i) => {
            if (t.cancel) handles[i]?.cancel();
          });
          assert.equal(scheduler.size, expected.length);
          for (const step of steps) clock.advance(step);
          clock.advance(5000);
          expected.sort((a, b) => a.due - b.due || a.i - b.i);
          assert.deepEqual(
            fired.map((f) => f.i),
            expected.map((e) => e.i),
          );
          for (const f of fired) assert.equal(f.at, expected.find((e) => e.i === f.i)?.due);
          assert.equal(scheduler.size, 0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('runs tasks scheduled by tasks, and nothing after close', () => {
    const clock = new ManualClock(0);
    const scheduler = new Scheduler(clock);
    const seen: number[] = [];
    scheduler.after(10, () => {
      seen.push(clock.now());
      scheduler.after(0, () => seen.push(clock.now()));
      scheduler.after(5, () => seen.push(clock.now()));
    });
    clock.advance(20);
    assert.deepEqual(seen, [10, 10, 15]);
    scheduler.after(1, () => seen.push(-1));
    scheduler.close();
    clock.advance(10);
    assert.deepEqual(seen, [10, 10, 15]);
  });
});
