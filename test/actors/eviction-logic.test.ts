// The eviction watcher's logic as a pure function, table style: thresholds met and resolved,
// soft grace, minimum reclaim, the pressure transition period, node-level reclaim before any
// eviction for disk signals, one victim at a time, the critical-pod rule and unknown signals.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../src/api/core-v1.js';
import {
  EVICTION_WAIT_MS,
  EvictionLogic,
  initialEvictionState,
  type EvictionEffect,
  type EvictionState,
  type Observation,
} from '../../src/actors/eviction/logic.js';
import { candidateOf, type EvictionCandidate } from '../../src/eviction/ranking.js';
import { parseEvictionSettings, type EvictionConfig, type Signal } from '../../src/eviction/thresholds.js';

const Mi = 2 ** 20;
const Gi = 2 ** 30;

function logicOf(cfg: Partial<EvictionConfig>): EvictionLogic {
  const { settings, problems } = parseEvictionSettings({
    evictionHard: {},
    evictionSoft: {},
    evictionSoftGracePeriod: {},
    evictionMinimumReclaim: {},
    evictionMaxPodGracePeriod: 0,
    evictionPressureTransitionPeriod: 60_000,
    ...cfg,
  });
  assert.deepEqual(problems, []);
  return new EvictionLogic(settings);
}

function candidate(name: string, memoryBytes: number, opts: { priority?: number; static?: boolean; grace?: number; rootfs?: number } = {}): EvictionCandidate {
  const p: Pod = {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, annotations: opts.static ? { 'kubernetes.io/config.source': 'file' } : {} },
    spec: { containers: [{ name: 'app', image: 'busybox' }], terminationGracePeriodSeconds: opts.grace ?? 30 },
  };
  if (opts.priority !== undefined) p.spec.priority = opts.priority;
  return candidateOf(p, {
    memoryWorkingSetBytes: memoryBytes,
    containers: [{ name: 'app', memoryWorkingSetBytes: memoryBytes, rootfsBytes: opts.rootfs ?? 0, logsBytes: 0 }],
  });
}

const PODS = [candidate('small', 10 * Mi), candidate('hog', 600 * Mi), candidate('static-hog', 900 * Mi, { static: true })];

function obs(at: number, signals: Partial<Record<Signal, [available: number, capacity: number]>>, extra: Partial<Observation> = {}): Observation {
  const s: Observation['signals'] = {};
  for (const [k, v] of Object.entries(signals) as [Signal, [number, number]][]) s[k] = { available: v[0], capacity: v[1] };
  return { at, signals: s, unknown: {}, imageFsDedicated: false, pods: PODS, ...extra };
}

const kinds = (effects: EvictionEffect[]): string[] => effects.map((e) => e.type);
function evictOf(effects: EvictionEffect[]): Extract<EvictionEffect, { type: 'evict' }> | undefined {
  return effects.find((e): e is Extract<EvictionEffect, { type: 'evict' }> => e.type === 'evict');
}

/** Runs a sequence of messages, returning every round's effects. */
function run(logic: EvictionLogic, steps: Parameters<EvictionLogic['handle']>[1][]): { state: EvictionState; rounds: EvictionEffect[][] } {
  let state = initialEvictionState();
  const rounds: EvictionEffect[][] = [];
  for (const m of steps) {
    const r = logic.handle(state, m);
    state = r.state;
    rounds.push(r.effects);
  }
  return { state, rounds };
}

describe('eviction logic', () => {
  it('a hard memory threshold: pressure, then the worst non-critical pod evicted with no grace', () => {
    const logic = logicOf({ evictionHard: { 'memory.available': '500Mi' } });
    const { state, rounds } = run(logic, [{ type: 'observe', observation: obs(0, { 'memory.available': [400 * Mi, 8 * Gi] }) }]);
    assert.deepEqual(kinds(rounds[0] ?? []), ['threshold-met', 'conditions', 'evict']);
    assert.deepEqual(state.conditions, ['MemoryPressure']);
    const e = evictOf(rounds[0] ?? []);
    assert.equal(e?.name, 'hog', 'the static pod uses more but is critical');
    assert.equal(e?.gracePeriodSeconds, 0);
    assert.deepEqual(e?.status, {
      phase: 'Failed',
      reason: 'Evicted',
      message: 'The node was low on resource: memory. Container app was using 600Mi, which exceeds its request of 0. ',
    });
    assert.equal(e?.annotations['starved_resource'], 'memory');
    assert.deepEqual(e?.report, { signal: 'memory.available', hard: true, threshold: 500 * Mi, available: 400 * Mi, capacity: 8 * Gi });
    assert.equal(state.evicting?.uid, 'uid-hog');
  });

  it('one victim at a time: the next waits for the kill to end, or for the wait to run out', () => {
    const logic = logicOf({ evictionHard: { 'memory.available': '500Mi' } });
    const low = (at: number): Observation => obs(at, { 'memory.available': [400 * Mi, 8 * Gi] });
    const { rounds } = run(logic, [
      { type: 'observe', observation: low(0) },
      { type: 'observe', observation: low(1000) },
      { type: 'evicted', uid: 'uid-hog', at: 1500 },
      { type: 'observe', observation: low(2000) },
      { type: 'observe', observation: low(2000 + EVICTION_WAIT_MS - 1) },
      { type: 'observe', observation: low(2000 + EVICTION_WAIT_MS) },
    ]);
    assert.deepEqual(
      rounds.map((r) => evictOf(r)?.name ?? '-'),
      ['hog', '-', '-', 'hog', '-', 'hog'],
    );
  });

  it('a soft threshold: pressure at once, eviction after its grace period with a capped pod grace', () => {
    const logic = logicOf({
      evictionSoft: { 'memory.available': '1Gi' },
      evictionSoftGracePeriod: { 'memory.available': '30s' },
      evictionMaxPodGracePeriod: 10,
    });
    const low = (at: number): Observation => obs(at, { 'memory.available': [900 * Mi, 8 * Gi] });
    const { rounds } = run(logic, [
      { type: 'observe', observation: low(0) },
      { type: 'observe', observation: low(29_999) },
      { type: 'observe', observation: low(30_000) },
    ]);
    assert.deepEqual(kinds(rounds[0] ?? []), ['threshold-met', 'conditions']);
    assert.deepEqual(kinds(rounds[1] ?? []), []);
    assert.equal(evictOf(rounds[2] ?? [])?.gracePeriodSeconds, 10);
    // Recovering during the grace period starts the clock again.
    const again = run(logic, [
      { type: 'observe', observation: low(0) },
      { type: 'observe', observation: obs(10_000, { 'memory.available': [2 * Gi, 8 * Gi] }) },
      { type: 'observe', observation: low(20_000) },
      { type: 'observe', observation: low(40_000) },
      { type: 'observe', observation: low(50_000) },
    ]);
    assert.deepEqual(
      again.rounds.map((r) => evictOf(r)?.name ?? '-'),
      ['-', '-', '-', '-', 'hog'],
    );
  });

  it('soft grace below the pod grace when evictionMaxPodGracePeriod is 0 keeps the pod grace', () => {
    const logic = logicOf({ evictionSoft: { 'memory.available': '1Gi' }, evictionSoftGracePeriod: { 'memory.available': '0s' } });
    const pods = [candidate('hog', 600 * Mi, { grace: 45 })];
    const { rounds } = run(logic, [{ type: 'observe', observation: obs(0, { 'memory.available': [900 * Mi, 8 * Gi] }, { pods }) }]);
    assert.equal(evictOf(rounds[0] ?? [])?.gracePeriodSeconds, 45);
  });

  it('minimum reclaim and the transition period: no flapping at the line', () => {
    const logic = logicOf({ evictionHard: { 'memory.available': '500Mi' }, evictionMinimumReclaim: { 'memory.available': '200Mi' } });
    const at = (t: number, availableMi: number): Parameters<EvictionLogic['handle']>[1] => ({
      type: 'observe',
      observation: obs(t, { 'memory.available': [availableMi * Mi, 8 * Gi] }, { pods: [] }),
    });
    const { rounds, state } = run(logic, [at(0, 400), at(1000, 600), at(2000, 700), at(3000, 800), at(62_000, 800), at(63_000, 800)]);
    assert.deepEqual(
      rounds.map((r) => kinds(r).join('+')),
      ['threshold-met+conditions+no-victim', 'no-victim', 'threshold-resolved', '', 'conditions', ''],
    );
    const cleared = rounds[4]?.[0];
    assert.deepEqual(cleared, { type: 'conditions', conditions: [], added: [], removed: ['MemoryPressure'] });
    assert.deepEqual(state.conditions, []);
  });

  it('disk: node-level reclaim first; no eviction when it was enough, the top disk user when not', () => {
    const logic = logicOf({ evictionHard: { 'nodefs.available': '10%' } });
    const pods = [candidate('writer', 10 * Mi, { rootfs: 5 * Gi }), candidate('idle', 10 * Mi, { rootfs: Mi })];
    const full = (t: number): Observation => obs(t, { 'nodefs.available': [5 * Gi, 100 * Gi] }, { pods });
    const enough = run(logic, [
      { type: 'observe', observation: full(0) },
      { type: 'observe', observation: full(100) },
      { type: 'reclaimed', observation: obs(200, { 'nodefs.available': [20 * Gi, 100 * Gi] }, { pods }), freedBytes: 15 * Gi },
    ]);
    assert.deepEqual(kinds(enough.rounds[0] ?? []), ['threshold-met', 'conditions', 'reclaim']);
    assert.deepEqual(kinds(enough.rounds[1] ?? []), [], 'no second reclaim while one is under way');
    assert.deepEqual(kinds(enough.rounds[2] ?? []), ['reclaim-sufficient']);
    const notEnough = run(logic, [
      { type: 'observe', observation: full(0) },
      { type: 'reclaimed', observation: obs(200, { 'nodefs.available': [6 * Gi, 100 * Gi] }, { pods }), freedBytes: Gi },
    ]);
    const e = evictOf(notEnough.rounds[1] ?? []);
    assert.equal(e?.name, 'writer');
    assert.match(e?.status.message ?? '', /^The node was low on resource: ephemeral-storage\. Container app was using 5Gi/);
    // With a dedicated imagefs, nodefs has nothing to reclaim at node level: straight to a pod.
    const dedicated = run(logic, [{ type: 'observe', observation: { ...full(0), imageFsDedicated: true } }]);
    assert.deepEqual(kinds(dedicated.rounds[0] ?? []), ['threshold-met', 'conditions', 'evict']);
  });

  it('memory acts before disk; all conditions are reported', () => {
    const logic = logicOf({ evictionHard: { 'nodefs.inodesFree': '5%', 'memory.available': '500Mi', 'pid.available': '10%' } });
    const { rounds, state } = run(logic, [
      {
        type: 'observe',
        observation: obs(0, { 'nodefs.inodesFree': [1, 1000], 'memory.available': [100 * Mi, 8 * Gi], 'pid.available': [10, 1000] }),
      },
    ]);
    assert.equal(evictOf(rounds[0] ?? [])?.signal, 'memory.available');
    assert.deepEqual(state.conditions, ['MemoryPressure', 'DiskPressure', 'PIDPressure']);
  });

  it('an unknown signal never evicts and is said once per spell', () => {
    const logic = logicOf({ evictionHard: { 'memory.available': '500Mi' } });
    const unknown = (t: number): Observation => obs(t, { 'memory.available': [0, 8 * Gi] }, { unknown: { 'memory.available': 'ENOENT /proc/meminfo' } });
    const { rounds } = run(logic, [
      { type: 'observe', observation: unknown(0) },
      { type: 'observe', observation: unknown(1000) },
      { type: 'observe', observation: obs(2000, { 'memory.available': [4 * Gi, 8 * Gi] }) },
    ]);
    assert.deepEqual(
      rounds.map((r) => kinds(r).join('+')),
      ['signal-unknown', '', 'signal-known'],
    );
  });

  it('only critical pods: nothing evicted, said so', () => {
    const logic = logicOf({ evictionHard: { 'memory.available': '500Mi' } });
    const { rounds } = run(logic, [
      { type: 'observe', observation: obs(0, { 'memory.available': [100 * Mi, 8 * Gi] }, { pods: [candidate('s', 900 * Mi, { static: true })] }) },
    ]);
    assert.deepEqual(rounds[0]?.at(-1), { type: 'no-victim', signal: 'memory.available', candidates: 1 });
  });

  it('admission follows the reported conditions', () => {
    const logic = logicOf({ evictionHard: { 'memory.available': '500Mi' } });
    const { state } = run(logic, [{ type: 'observe', observation: obs(0, { 'memory.available': [100 * Mi, 8 * Gi] }, { pods: [] }) }]);
    const bestEffort: Pod = { metadata: { name: 'x', uid: 'x' }, spec: { containers: [{ name: 'c', image: 'i' }] } };
    assert.deepEqual(logic.admit(state, bestEffort), { admit: false, reason: 'Evicted', message: 'The node had condition: [MemoryPressure]. ' });
    assert.deepEqual(logic.admit(initialEvictionState(), bestEffort), { admit: true });
  });
});
