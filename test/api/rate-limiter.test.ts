// The client-side rate limit: the token bucket's pace, and strict priority between classes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PriorityRateLimiter, type LimiterClock } from '../../src/api/rate-limiter.js';

/** A manual clock: timers fire only when the test advances time. */
function manualClock(): LimiterClock & { advance(ms: number): void } {
  let now = 0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let seq = 0;
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = ++seq;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout: (h) => {
      timers = timers.filter((t) => t.id !== h);
    },
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const t = timers[0];
        if (!t || t.at > end) break;
        timers.shift();
        now = t.at;
        t.fn();
      }
      now = end;
    },
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('priority rate limiter', () => {
  it('lets a burst through at once, then paces at qps', async () => {
    const clock = manualClock();
    const l = new PriorityRateLimiter(10, 5, clock);
    let done = 0;
    for (let i = 0; i < 15; i++) void l.acquire('bulk').then(() => done++);
    await tick();
    assert.equal(done, 5, 'the burst');
    clock.advance(500);
    await tick();
    assert.equal(done, 10, '5 more after 0.5 s at 10/s');
    clock.advance(500);
    await tick();
    assert.equal(done, 15);
  });

  it('serves waiting heartbeats before normal before bulk, FIFO within a class', async () => {
    const clock = manualClock();
    const l = new PriorityRateLimiter(1, 1, clock);
    await l.acquire('bulk'); // spend the one token
    const order: string[] = [];
    for (let i = 0; i < 3; i++) void l.acquire('bulk').then(() => order.push(`bulk${i}`));
    void l.acquire('normal').then(() => order.push('normal'));
    void l.acquire('heartbeat').then(() => order.push('heartbeat'));
    assert.equal(l.waiting(), 5);
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      await tick();
    }
    assert.deepEqual(order, ['heartbeat', 'normal', 'bulk0', 'bulk1', 'bulk2']);
    assert.equal(l.waited.get('heartbeat')?.count, 1);
  });

  it('waiting bulk work gets one token in four, so steady normal traffic cannot starve it', async () => {
    const clock = manualClock();
    const l = new PriorityRateLimiter(1, 1, clock);
    await l.acquire('normal');
    const order: string[] = [];
    for (let i = 0; i < 2; i++) void l.acquire('bulk').then(() => order.push('bulk'));
    for (let i = 0; i < 8; i++) void l.acquire('normal').then(() => order.push('normal'));
    for (let i = 0; i < 10; i++) {
      clock.advance(1000);
      await tick();
    }
    assert.deepEqual(order, ['normal', 'normal', 'normal', 'bulk', 'normal', 'normal', 'normal', 'bulk', 'normal', 'normal']);
  });

  it('qps 0 means no limit; close rejects the waiting', async () => {
    const free = new PriorityRateLimiter(0, 0);
    for (let i = 0; i < 1000; i++) await free.acquire('bulk');
    const clock = manualClock();
    const l = new PriorityRateLimiter(1, 1, clock);
    await l.acquire();
    const p = l.acquire('bulk');
    l.close();
    await assert.rejects(p, (e: Error & { code?: string }) => e.code === 'KTS_API_LIMITER_CLOSED');
  });
});
