// The probe actor's logic on simulated time: offsets and periods, initial results, thresholds,
// startup gating, initial delay, hold after a liveness failure and reset on a new container,
// bounded concurrency with lateness and overruns counted instead of piling up.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProbeLogic, type ProbeEffect, type ProbeJob, type ProbeOutcome, type ResultChange } from '../../src/actors/probes/logic.js';
import type { ContainerProbe, ProbeKind, ProbePodTarget } from '../../src/probes/spec.js';
import { seededRandom } from '../../src/util/seeded-random.js';

function probe(kind: ProbeKind, t: Partial<ContainerProbe['timing']> = {}): ContainerProbe {
  return {
    kind,
    timing: { initialDelayMs: 0, periodMs: 1000, timeoutMs: 1000, successThreshold: 1, failureThreshold: 3, ...t },
    handler: { type: 'exec', command: ['true'] },
  };
}

function pod(uid: string, containers: { name: string; id: string; startedAt?: number; probes: ContainerProbe[] }[]): ProbePodTarget {
  return {
    uid,
    name: `pod-${uid}`,
    namespace: 'default',
    containers: containers.map((c) => ({ name: c.name, containerId: c.id, startedAt: c.startedAt ?? 0, probes: c.probes })),
  };
}

/**
 * Drives a scheduler on a simulated clock: probes take `durationMs` and answer with `answer(job)`.
 */
class Sim {
  now = 0;
  readonly jobs: ProbeJob[] = [];
  readonly changes: ResultChange[] = [];
  private readonly inFlight: { job: ProbeJob; endAt: number }[] = [];
  readonly s: ProbeLogic;
  readonly effects: ProbeEffect[] = [];
  constructor(
    private readonly answer: (job: ProbeJob) => ProbeOutcome['result'],
    opts: { maxConcurrent?: number; random?: () => number; durationMs?: number } = {},
  ) {
    this.s = new ProbeLogic({ now: () => this.now, random: opts.random ?? (() => 0), maxConcurrent: opts.maxConcurrent ?? 100 });
    this.durationMs = opts.durationMs ?? 0;
  }
  private readonly durationMs: number;
  set(target: ProbePodTarget): void {
    this.take(this.s.setPod(target));
  }
  /** Keeps every effect; result changes and started jobs also in their own lists. */
  private take(effects: ProbeEffect[]): void {
    for (const e of effects) {
      this.effects.push(e);
      if (e.type === 'result') this.changes.push(e.change);
      if (e.type === 'start') this.begin([e.job]);
    }
  }
  private begin(js: ProbeJob[]): void {
    for (const j of js) {
      this.jobs.push(j);
      this.inFlight.push({ job: j, endAt: this.now + this.durationMs });
    }
  }
  /** Advances to `t`, waking at every due time and finishing probes when they end. */
  runUntil(t: number): void {
    for (;;) {
      const wake = this.s.nextWakeAt();
      const end = this.inFlight.reduce((m, x) => Math.min(m, x.endAt), Infinity);
      const next = Math.min(wake ?? Infinity, end);
      if (next > t) break;
      this.now = Math.max(this.now, next);
      // Finish what ends now first (frees slots), then start what is due.
      for (let i = 0; i < this.inFlight.length;) {
        const f = this.inFlight[i]!;
        if (f.endAt <= this.now) {
          this.inFlight.splice(i, 1);
          this.take(this.s.complete(f.job, { result: this.answer(f.job), message: `out-${f.job.id}` }, this.now));
        } else i++;
      }
      this.take(this.s.due(this.now));
    }
    this.now = t;
  }
  jobsOf(kind: ProbeKind): ProbeJob[] {
    return this.jobs.filter((j) => j.kind === kind);
  }
}

describe('probe logic', () => {
  it('first probe at a random offset within the period, then every period', () => {
    const r = seededRandom(7);
    const sim = new Sim(() => 'success', { random: r });
    for (let i = 0; i < 50; i++) sim.set(pod(`u${i}`, [{ name: 'c', id: `id${i}`, probes: [probe('readiness', { periodMs: 1000 })] }]));
    sim.runUntil(999);
    const first = sim.jobs.map((j) => j.dueAt);
    assert.equal(first.length, 50);
    assert.ok(first.every((t) => t >= 0 && t < 1000));
    // Spread: not all in the same 100 ms.
    assert.ok(Math.max(...first) - Math.min(...first) > 500);
    sim.runUntil(10_999);
    for (let i = 0; i < 50; i++) {
      const mine = sim.jobs.filter((j) => j.podUid === `u${i}`).map((j) => j.dueAt);
      assert.equal(mine.length, 11);
      for (let k = 1; k < mine.length; k++) assert.equal(mine[k]! - mine[k - 1]!, 1000);
    }
    assert.ok(sim.jobs.every((j) => j.startedAt === j.dueAt));
  });

  it('initial results: readiness failure, liveness success, startup unknown', () => {
    const sim = new Sim(() => 'success');
    sim.set(pod('u', [{ name: 'c', id: 'a', probes: [probe('startup'), probe('liveness'), probe('readiness')] }]));
    assert.deepEqual(
      sim.changes.map((c) => [c.kind, c.result, c.containerId]),
      [
        ['startup', 'unknown', 'a'],
        ['liveness', 'success', 'a'],
        ['readiness', 'failure', 'a'],
      ],
    );
  });

  it('readiness flips after successThreshold successes and failureThreshold failures', () => {
    let answer: ProbeOutcome['result'] = 'success';
    const sim = new Sim(() => answer);
    sim.set(pod('u', [{ name: 'c', id: 'a', probes: [probe('readiness', { successThreshold: 2, failureThreshold: 3 })] }]));
    sim.changes.length = 0;
    sim.runUntil(0);
    assert.equal(sim.changes.length, 0, 'one success is not enough with successThreshold 2');
    sim.runUntil(1000);
    assert.deepEqual(
      sim.changes.map((c) => [c.result, c.message]),
      [['success', 'out-2']],
    );
    answer = 'failure';
    sim.runUntil(3000);
    assert.equal(sim.changes.length, 1, 'two failures are not enough with failureThreshold 3');
    sim.runUntil(4000);
    assert.deepEqual(
      sim.changes.map((c) => c.result),
      ['success', 'failure'],
    );
    // Readiness never holds: it keeps probing.
    answer = 'warning';
    sim.runUntil(6000);
    assert.deepEqual(
      sim.changes.map((c) => c.result),
      ['success', 'failure', 'success'],
    );
  });

  it('an errored probe is thrown away', () => {
    let answer: ProbeOutcome['result'] = 'failure';
    const sim = new Sim(() => answer);
    sim.set(pod('u', [{ name: 'c', id: 'a', probes: [probe('liveness', { failureThreshold: 2 })] }]));
    sim.changes.length = 0;
    sim.runUntil(0);
    answer = 'unknown';
    sim.runUntil(3000);
    assert.equal(sim.changes.length, 0);
    answer = 'failure';
    sim.runUntil(4000);
    assert.deepEqual(
      sim.changes.map((c) => c.result),
      ['failure'],
    );
  });

  it('a liveness failure holds the worker until the container ID changes, then results reset', () => {
    const sim = new Sim(() => 'failure');
    sim.set(pod('u', [{ name: 'c', id: 'a', probes: [probe('liveness', { failureThreshold: 3 })] }]));
    sim.changes.length = 0;
    sim.runUntil(2000);
    assert.deepEqual(
      sim.changes.map((c) => [c.result, c.containerId]),
      [['failure', 'a']],
    );
    const before = sim.jobs.length;
    sim.runUntil(20_000);
    assert.equal(sim.jobs.length, before, 'no probes while on hold');
    // The same container reported again changes nothing.
    sim.set(pod('u', [{ name: 'c', id: 'a', probes: [probe('liveness', { failureThreshold: 3 })] }]));
    sim.runUntil(25_000);
    assert.equal(sim.jobs.length, before);
    sim.set(pod('u', [{ name: 'c', id: 'b', startedAt: 25_000, probes: [probe('liveness', { failureThreshold: 3 })] }]));
    assert.deepEqual(
      sim.changes.map((c) => [c.result, c.containerId]),
      [
        ['failure', 'a'],
        ['success', 'b'],
      ],
    );
    sim.runUntil(28_000);
    assert.ok(sim.jobs.length > before);
    assert.ok(sim.jobs.slice(before).every((j) => j.containerId === 'b'));
    assert.deepEqual(
      sim.changes.map((c) => [c.result, c.containerId]),
      [
        ['failure', 'a'],
        ['success', 'b'],
        ['failure', 'b'],
      ],
    );
  });

  it('a startup probe gates liveness and readiness until it succeeds, then stops', () => {
    let startupOk = false;
    const sim = new Sim((j) => (j.kind === 'startup' ? (startupOk ? 'success' : 'failure') : 'failure'));
    sim.set(
      pod('u', [{ name: 'c', id: 'a', probes: [probe('startup', { failureThreshold: 100 }), probe('liveness', { failureThreshold: 1 }), probe('readiness')] }]),
    );
    sim.changes.length = 0;
    sim.runUntil(5000);
    assert.equal(sim.jobsOf('liveness').length, 0);
    assert.equal(sim.jobsOf('readiness').length, 0);
    assert.equal(sim.jobsOf('startup').length, 6);
    startupOk = true;
    sim.runUntil(6000);
    assert.deepEqual(
      sim.changes.map((c) => [c.kind, c.result]),
      [['startup', 'success']],
    );
    const startups = sim.jobsOf('startup').length;
    sim.runUntil(9000);
    assert.equal(sim.jobsOf('startup').length, startups, 'startup stops once it succeeded');
    assert.ok(sim.jobsOf('liveness').length > 0);
    assert.ok(sim.changes.some((c) => c.kind === 'liveness' && c.result === 'failure'));
  });

  it('a failed startup probe holds, like liveness', () => {
    const sim = new Sim(() => 'failure');
    sim.set(pod('u', [{ name: 'c', id: 'a', probes: [probe('startup', { failureThreshold: 2 }), probe('liveness')] }]));
    sim.changes.length = 0;
    sim.runUntil(10_000);
    assert.deepEqual(
      sim.changes.map((c) => [c.kind, c.result]),
      [['startup', 'failure']],
    );
    assert.equal(sim.jobsOf('startup').length, 2);
    assert.equal(sim.jobsOf('liveness').length, 0);
  });

  it('no probe before initialDelaySeconds from the container start', () => {
    const sim = new Sim(() => 'success');
    sim.now = 10_000;
    sim.set(pod('u', [{ name: 'c', id: 'a', startedAt: 10_000, probes: [probe('readiness', { initialDelayMs: 5000 })] }]));
    sim.runUntil(14_999);
    assert.equal(sim.jobs.length, 0);
    sim.runUntil(15_000);
    assert.equal(sim.jobs.length, 1);
  });

  it('bounded concurrency: probes wait for a slot, lateness is measured, overruns are skipped', () => {
    const sim = new Sim(() => 'success', { maxConcurrent: 2, durationMs: 300 });
    for (let i = 0; i < 5; i++) sim.set(pod(`u${i}`, [{ name: 'c', id: `id${i}`, probes: [probe('readiness')] }]));
    sim.runUntil(0);
    assert.equal(sim.jobs.length, 2);
    assert.equal(sim.s.stats().waiting, 3);
    sim.runUntil(999);
    // 2 at 0, 2 at 300, 1 at 600.
    assert.deepEqual(
      sim.jobs.map((j) => j.startedAt - j.dueAt),
      [0, 0, 300, 300, 600],
    );
    assert.ok(sim.s.stats().running <= 2);

    // Probes slower than their period: each worker is skipped, never queued twice.
    const slow = new Sim(() => 'success', { maxConcurrent: 10, durationMs: 2500 });
    slow.set(pod('u', [{ name: 'c', id: 'a', probes: [probe('readiness')] }]));
    slow.runUntil(10_000);
    const st = slow.s.stats();
    assert.equal(slow.jobs.length, 4);
    assert.ok(st.overrun >= 6);
    assert.equal(st.waiting, 0);
  });

  it('a result for a replaced container is ignored; removing a pod drops its workers', () => {
    const sim = new Sim(() => 'failure', { durationMs: 500 });
    sim.set(pod('u', [{ name: 'c', id: 'a', probes: [probe('liveness', { failureThreshold: 1 })] }]));
    sim.changes.length = 0;
    sim.runUntil(100);
    sim.set(pod('u', [{ name: 'c', id: 'b', probes: [probe('liveness', { failureThreshold: 1 })] }]));
    sim.runUntil(600);
    assert.deepEqual(
      sim.changes.map((c) => [c.result, c.containerId]),
      [['success', 'b']],
    );
    sim.s.removePod('u');
    assert.equal(sim.s.stats().workers, 0);
    const n = sim.jobs.length;
    sim.runUntil(5000);
    assert.equal(sim.jobs.length, n);
  });

  it('decides the event of each outcome of a live worker, and none for a stale one', () => {
    const cases: { outcome: ProbeOutcome['result']; event?: [string, string] }[] = [
      { outcome: 'success' },
      { outcome: 'failure', event: ['Unhealthy', 'Readiness probe failed: why'] },
      { outcome: 'warning', event: ['ProbeWarning', 'Readiness probe warning: why'] },
      { outcome: 'unknown', event: ['Unhealthy', 'Readiness probe errored: why'] },
    ];
    for (const c of cases) {
      const logic = new ProbeLogic({ now: () => 0, random: () => 0 });
      logic.setPod(pod('u', [{ name: 'c', id: 'a', probes: [probe('readiness')] }]));
      const start = logic.due(0).find((e) => e.type === 'start');
      assert.ok(start && start.type === 'start', 'a probe is due at once with a zero offset');
      const out = logic.complete(start.job, { result: c.outcome, message: 'why' }, 10, 0.25);
      const events = out.filter((e) => e.type === 'event').map((e) => (e.type === 'event' ? [e.reason, e.message] : []));
      assert.deepEqual(events, c.event ? [c.event] : [], c.outcome);
      const observed = out.find((e) => e.type === 'observe');
      assert.ok(observed && observed.type === 'observe' && observed.result === c.outcome && observed.seconds === 0.25, `${c.outcome}: observed`);
      assert.equal(out.at(-1)?.type, 'arm', 'the timer is re-armed last');
    }
    // The container was replaced while its probe ran: no event, no metrics, no result.
    const logic = new ProbeLogic({ now: () => 0, random: () => 0 });
    logic.setPod(pod('u', [{ name: 'c', id: 'a', probes: [probe('readiness', { failureThreshold: 1 })] }]));
    const start = logic.due(0).find((e) => e.type === 'start');
    assert.ok(start && start.type === 'start');
    logic.setPod(pod('u', [{ name: 'c', id: 'b', probes: [probe('readiness', { failureThreshold: 1 })] }]));
    assert.deepEqual(
      logic.complete(start.job, { result: 'failure', message: 'x' }, 10).map((e) => e.type),
      ['arm'],
    );
  });

  it('forgets the metric series of every worker it drops, and set-pods drops the pods not listed', () => {
    const logic = new ProbeLogic({ now: () => 0, random: () => 0 });
    logic.setPod(pod('a', [{ name: 'c', id: '1', probes: [probe('liveness'), probe('readiness')] }]));
    logic.setPod(pod('b', [{ name: 'c', id: '2', probes: [probe('liveness')] }]));
    assert.equal(logic.podCount, 2);
    // A probe removed from a container: its series goes.
    const less = logic.setPod(pod('a', [{ name: 'c', id: '1', probes: [probe('liveness')] }]));
    assert.deepEqual(
      less.filter((e) => e.type === 'forget').map((e) => (e.type === 'forget' ? `${e.series.podUid}/${e.series.kind}` : '')),
      ['a/readiness'],
    );
    const out = logic.setPods([pod('b', [{ name: 'c', id: '2', probes: [probe('liveness')] }])]);
    assert.deepEqual(
      out.filter((e) => e.type === 'forget').map((e) => (e.type === 'forget' ? `${e.series.podUid}/${e.series.kind}` : '')),
      ['a/liveness'],
    );
    assert.equal(logic.podCount, 1);
    // A pod whose containers have no probes left is removed.
    logic.setPod(pod('b', []));
    assert.equal(logic.podCount, 0);
    assert.deepEqual(logic.removePod('b'), [{ type: 'arm', at: undefined }]);
  });
});
