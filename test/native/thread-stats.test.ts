// Per-thread CPU and event-loop delay: real worker threads that burn CPU and block their loop,
// seen through the collector and on the registry's text, a thread's exit and a restart under
// the same name (its CPU count continues).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { collectThreadStats, currentTid, threadCpuSeconds } from '../../src/native/thread-stats.js';

const moduleUrl = new URL('../../src/native/thread-stats.js', import.meta.url).href;

/** A worker that reports as `name`, then blocks its own loop for `busyMs` and waits to be told to exit. */
function busyWorker(name: string, busyMs: number): Worker {
  const code = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(moduleUrl)}).then((m) => {
      m.reportThreadStats(${JSON.stringify(name)}, { intervalMs: 100 });
      setTimeout(() => {
        // Burn CPU time, not wall time: on a loaded machine the thread is descheduled.
        const tid = m.currentTid();
        const end = m.threadCpuSeconds(tid) + ${busyMs} / 1000;
        while (m.threadCpuSeconds(tid) < end) { /* burn */ }
        parentPort.postMessage('burnt');
      }, 50);
      parentPort.on('message', () => process.exit(0));
    });`;
  const w = new Worker(code, { eval: true });
  live.add(w);
  w.once('exit', () => live.delete(w));
  return w;
}

/** Workers still running when a test fails are terminated, so a failure cannot hang the run. */
const live = new Set<Worker>();

async function until<T>(what: string, f: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('thread stats', () => {
  const registry = new Registry();
  const stats = collectThreadStats(registry);
  after(async () => {
    stats.close();
    await Promise.all([...live].map((w) => w.terminate()));
  });

  it('knows this thread by its Linux id', () => {
    const tid = currentTid();
    assert.ok(tid && tid > 0);
    // The main thread's tid is the process id.
    assert.equal(tid, process.pid);
    assert.ok((threadCpuSeconds(tid) ?? -1) >= 0);
  });

  it("reports a worker thread's CPU and event-loop delay, and drops it when it exits", async () => {
    const w = busyWorker('w1', 400);
    await once(w, 'message');
    const s = await until('w1 with its blocked window reported', () => stats.snapshot().find((t) => t.thread === 'w1' && t.delay.max >= 0.3));
    assert.notEqual(s.tid, process.pid);
    assert.ok(s.cpuSeconds >= 0.3, `w1 CPU ${s.cpuSeconds} s after 400 ms of burning`);
    const text = await registry.metrics();
    const cpuLine = /kubelet_ts_thread_cpu_seconds_total\{thread="w1"\} ([\d.]+)/.exec(text);
    assert.ok(cpuLine && Number(cpuLine[1]) >= 0.3, text);
    assert.match(text, /kubelet_ts_thread_event_loop_delay_seconds\{thread="w1",stat="max"\} (0\.[3-9]|[1-9])/);

    w.postMessage('exit');
    await once(w, 'exit');
    await until('w1 gone', () => (stats.snapshot().some((t) => t.thread === 'w1') ? undefined : true));
    const after1 = await registry.metrics();
    assert.doesNotMatch(after1, /event_loop_delay_seconds\{thread="w1"/);
    // The counter keeps what the thread used.
    const kept = Number(/kubelet_ts_thread_cpu_seconds_total\{thread="w1"\} ([\d.]+)/.exec(after1)?.[1]);
    assert.ok(kept >= 0.3);

    // The same name again (a restarted actor thread): the count goes on from there.
    const w2 = busyWorker('w1', 200);
    await once(w2, 'message');
    await until('the new w1', () => stats.snapshot().find((t) => t.thread === 'w1' && t.cpuSeconds >= kept + 0.15));
    const total = Number(/kubelet_ts_thread_cpu_seconds_total\{thread="w1"\} ([\d.]+)/.exec(await registry.metrics())?.[1]);
    assert.ok(total >= kept + 0.15, `count after the restart ${total}, before ${kept}`);
    w2.postMessage('exit');
    await once(w2, 'exit');
  });

  it('ignores messages that are not thread reports', async () => {
    const { BroadcastChannel } = await import('node:worker_threads');
    const ch = new BroadcastChannel('kubelet-ts:thread-stats');
    ch.postMessage('garbage');
    ch.postMessage({ kts: 'thread-stats', name: 42, tid: 'x' });
    ch.postMessage({ kts: 'thread-stats', name: 'ghost', tid: 999_999_999, p50: 0, p99: 0, max: 0, at: 0 });
    await sleep(50);
    ch.close();
    // The ghost has no /proc entry: it is never shown.
    assert.equal(
      stats.snapshot().some((t) => t.thread === 'ghost' || typeof t.thread !== 'string'),
      false,
    );
  });
});
