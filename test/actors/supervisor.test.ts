// Supervision on simulated time: jittered exponential restarts within a budget, escalation when
// the budget is spent, a fresh budget after the window.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Supervisor } from '../../src/actors/host/supervisor.js';

describe('supervisor', () => {
  it('restarts with growing jittered delays, then escalates once the budget is spent', () => {
    let now = 0;
    const scheduled: number[] = [];
    let starts = 0;
    const escalations: string[] = [];
    const s = new Supervisor({
      name: 'thing',
      start: () => void starts++,
      budget: 3,
      windowMs: 60_000,
      initialBackoffMs: 100,
      maxBackoffMs: 1000,
      now: () => now,
      random: () => 1,
      schedule: (fn, ms) => {
        scheduled.push(ms);
        fn();
      },
      onEscalate: (why) => void escalations.push(why),
    });
    s.start();
    assert.deepEqual([s.failed('a'), s.failed('b'), s.failed('c')], [100, 200, 400]);
    assert.equal(starts, 4);
    assert.equal(s.failed('d'), undefined);
    assert.equal(s.gaveUp, true);
    assert.match(escalations[0] ?? '', /thing failed 4 times within 60s \(last: d\); restart budget spent/);
    assert.equal(s.failed('e'), undefined, 'no restarts after giving up');
    s.reset();
    now += 120_000;
    assert.equal(s.failed('f'), 100, 'fresh budget');
  });

  it('jitters between half and all of the backoff, caps it, and forgets old restarts', () => {
    let now = 0;
    const s = new Supervisor({
      name: 'x',
      start: () => undefined,
      budget: 100,
      windowMs: 1000,
      initialBackoffMs: 100,
      maxBackoffMs: 300,
      now: () => now,
      random: () => 0,
      schedule: () => undefined,
    });
    assert.deepEqual([s.failed('1'), s.failed('2'), s.failed('3'), s.failed('4')], [50, 100, 150, 150]);
    now = 5000;
    assert.equal(s.failed('5'), 50, 'restarts outside the window no longer count');
  });

  it('does nothing once stopped', () => {
    let starts = 0;
    const s = new Supervisor({ name: 'x', start: () => void starts++, schedule: (fn) => fn() });
    s.start();
    s.stop();
    assert.equal(s.failed('late'), undefined);
    assert.equal(starts, 1);
  });
});
