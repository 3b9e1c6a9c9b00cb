// The eviction watcher on its thread, driven through bus requests only, against the embedded
// simulated runtime: the node's figures set on the sim (no real memory or disk used), pods
// running in the sim with their usage set, and what comes back on the bus: the signals, the
// threshold met, the pressure conditions, the pod it evicts (the one upstream's ranking picks, a
// critical one never), one at a time until the kill is reported, and for disk the node-level
// reclaim asked for first. The main thread's part (kill, reclaim) is this test's.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, BusError, type MessageOf } from '../../src/bus/index.js';
import { EvictionActor } from '../../src/actors/eviction/handle.js';
import { parseEvictionSettings } from '../../src/eviction/thresholds.js';
import type { Pod } from '../../src/api/core-v1.js';
import { SimRuntime } from '../../src/sim/index.js';
import { containerConfig, newPod, sandboxConfig, waitFor, type PodRef } from '../helpers/cri-fixtures.js';

const Mi = 2 ** 20;
const Gi = 2 ** 30;

type EvictionMessage = MessageOf<'eviction'>;

function podSpec(ref: PodRef, opts: { memReq?: string; critical?: boolean } = {}): Pod {
  return {
    metadata: {
      name: ref.name,
      namespace: ref.namespace,
      uid: ref.uid,
      annotations: { 'kubernetes.io/config.source': opts.critical ? 'file' : 'api' },
    },
    spec: {
      terminationGracePeriodSeconds: 30,
      containers: [{ name: 'app', image: 'busybox:1.35', ...(opts.memReq ? { resources: { requests: { memory: opts.memReq } } } : {}) }],
    },
  };
}

describe('eviction watcher thread', () => {
  let dir: string;
  const sim = new SimRuntime({ seed: 7 });
  const bus = new Bus({ name: 'main' });
  const seen: EvictionMessage[] = [];
  const evicted: string[] = [];
  const reclaims: string[] = [];
  /** Holds each reclaim until the test lets it end. */
  let releaseReclaim: (freed: number) => void = () => undefined;
  let actor: EvictionActor;
  const pods: Record<string, PodRef> = {};

  async function run(name: string): Promise<PodRef> {
    const ref = newPod(name);
    const sb = await sim.RunPodSandbox({ config: sandboxConfig(ref, join(dir, 'logs')), runtimeHandler: '' } as never);
    const c = await sim.CreateContainer({
      podSandboxId: sb.podSandboxId,
      config: containerConfig(ref, 'app', 'busybox:1.35', ['sleep', '3600']),
      sandboxConfig: sandboxConfig(ref, join(dir, 'logs')),
    } as never);
    await sim.StartContainer({ containerId: c.containerId } as never);
    pods[name] = ref;
    return ref;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kts-eviction-actor-'));
    bus.subscribe('eviction', (m) => {
      seen.push(m);
    });
    const hog = await run('hog');
    const small = await run('small');
    const requested = await run('requested');
    const node = await run('node-agent');
    sim.setPodUsage(hog.uid, { workingSetBytes: 900 * Mi, writableLayerBytes: 10 * Mi });
    sim.setPodUsage(small.uid, { workingSetBytes: 20 * Mi, writableLayerBytes: 8 * Gi });
    sim.setPodUsage(requested.uid, { workingSetBytes: 1500 * Mi, writableLayerBytes: Mi });
    sim.setPodUsage(node.uid, { workingSetBytes: 3000 * Mi, writableLayerBytes: Mi });
    const { settings } = parseEvictionSettings({
      evictionHard: { 'memory.available': '1Gi', 'nodefs.available': '10%' },
      evictionSoft: {},
      evictionSoftGracePeriod: {},
      evictionMinimumReclaim: {},
      evictionMaxPodGracePeriod: 0,
      evictionPressureTransitionPeriod: 5000,
    });
    actor = new EvictionActor({
      runtime: { embedded: sim, name: 'sim' },
      bus,
      settings,
      nodeName: 'n1',
      rootDir: dir,
      podLogsDir: join(dir, 'logs'),
      // Rounds only when asked: the test decides when the node is observed.
      intervalMs: 3_600_000,
      quickCheckMs: 0,
      simNode: true,
      evict: (m) => {
        evicted.push(m.name);
      },
      reclaim: (signal) => {
        reclaims.push(signal);
        return new Promise<number>((resolve) => {
          releaseReclaim = resolve;
        });
      },
    });
    actor.track(podSpec(hog));
    actor.track(podSpec(small));
    actor.track(podSpec(requested, { memReq: '2Gi' }));
    actor.track(podSpec(node, { critical: true }));
    actor.start();
    await waitFor('the first round', async () => ((await bus.call('eviction.state', {})).rounds >= 1 ? true : undefined));
  });

  after(async () => {
    await actor.stop();
    bus.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a roomy node: signals reported, nothing met', async () => {
    const s = await bus.call('eviction.observe', {});
    assert.deepEqual(s.conditions, []);
    assert.deepEqual(s.met, []);
    assert.equal(s.pods, 4);
    // The node's figures less what the four running pods use (900 + 20 + 1500 + 3000 Mi).
    assert.deepEqual(s.signals['memory.available'], { available: 500 * Gi - 5420 * Mi, capacity: 512 * Gi });
    assert.ok(seen.some((m) => m.type === 'observed'));
  });

  it('memory pressure: MemoryPressure, then the pod upstream ranks first, one at a time', async () => {
    sim.setNodeFigures({ memory: { availableBytes: 5420 * Mi + 512 * Mi } });
    const s = await bus.call('eviction.observe', {});
    assert.deepEqual(s.conditions, ['MemoryPressure']);
    assert.deepEqual(
      s.met.map((m) => m.signal),
      ['memory.available'],
    );
    await waitFor('an eviction', () => (evicted.length > 0 ? true : undefined));
    // The critical pod uses most and the requested one is under its request: the hog goes.
    assert.deepEqual(evicted, [seen.find((m) => m.type === 'evict')?.name]);
    assert.equal(evicted[0], pods['hog']?.name);
    const evict = seen.find((m): m is Extract<EvictionMessage, { type: 'evict' }> => m.type === 'evict');
    assert.equal(evict?.gracePeriodSeconds, 0);
    assert.equal(evict?.message, 'The node was low on resource: memory. Container app was using 900Mi, which exceeds its request of 0. ');
    assert.equal(evict?.annotations['starved_resource'], 'memory');
    const cond = seen.find((m) => m.type === 'conditions');
    assert.deepEqual(cond, { type: 'conditions', at: (cond as { at: number }).at, conditions: ['MemoryPressure'], added: ['MemoryPressure'], removed: [] });
    await waitFor('the handle to see the condition', () => (actor.conditions.includes('MemoryPressure') ? true : undefined));
    // Still short: no second victim while the first one's kill is under way.
    await bus.call('eviction.observe', {});
    assert.equal(evicted.length, 1);
    // The kill is done (as the pod workers' end reports it): the next one goes.
    actor.forget(pods['hog']?.uid ?? '');
    await bus.call('eviction.evicted', { uid: pods['hog']?.uid ?? '' });
    await bus.call('eviction.observe', {});
    await waitFor('a second eviction', () => (evicted.length > 1 ? true : undefined));
    assert.equal(evicted[1], pods['small']?.name);
  });

  it('admission follows the pressure', async () => {
    await waitFor('the handle to see the condition', () => (actor.conditions.includes('MemoryPressure') ? true : undefined));
    const bestEffort = podSpec(newPod('late'));
    assert.deepEqual(actor.admit(bestEffort), { admit: false, reason: 'Evicted', message: 'The node had condition: [MemoryPressure]. ' });
    assert.deepEqual(actor.admit(podSpec(newPod('late-burstable'), { memReq: '10Mi' })), { admit: true });
  });

  it('disk pressure: node-level reclaim first, then the biggest writer', async () => {
    sim.setNodeFigures({ memory: { availableBytes: 60 * Gi }, nodefs: { availableBytes: 10 * Gi }, imagefs: { availableBytes: 10 * Gi } });
    await bus.call('eviction.evicted', { uid: pods['small']?.uid ?? '' });
    actor.forget(pods['small']?.uid ?? '');
    actor.track(podSpec(pods['small'] as PodRef));
    evicted.length = 0;
    const s = await bus.call('eviction.observe', {});
    assert.ok(s.conditions.includes('DiskPressure'), JSON.stringify(s.conditions));
    await waitFor('a reclaim request', () => (reclaims.length > 0 ? true : undefined));
    assert.equal(reclaims[0], 'nodefs.available');
    await bus.call('eviction.observe', {});
    assert.equal(evicted.length, 0, 'no pod while the reclaim is under way');
    releaseReclaim(0);
    await waitFor('the eviction after a reclaim that freed nothing', () => (evicted.length > 0 ? true : undefined));
    assert.equal(evicted[0], pods['small']?.name, 'the pod with the 8Gi writable layer');
  });

  it('a pressure clears after the transition period', async () => {
    sim.setNodeFigures({ nodefs: { availableBytes: 900 * Gi }, imagefs: { availableBytes: 900 * Gi } });
    const now = await bus.call('eviction.observe', {});
    assert.ok(now.conditions.includes('DiskPressure'), 'held for the transition period');
    await waitFor('the conditions to clear', async () => ((await bus.call('eviction.observe', {})).conditions.length === 0 ? true : undefined), 15_000, 500);
    await waitFor('the handle to see them clear', () => (actor.conditions.length === 0 ? true : undefined));
  });

  it('refuses a bad command body with a code, and keeps serving', async () => {
    await assert.rejects(bus.call('eviction.set-pod', { pod: { uid: 'x' } } as never), (err: unknown) => {
      assert.ok(err instanceof BusError, String(err));
      assert.equal(err.remoteCode, 'KTS_BUS_INVALID_REQUEST');
      assert.match(err.message, /pod\.namespace must be a string/);
      return true;
    });
    assert.equal((await bus.call('eviction.state', {})).pods >= 3, true);
  });
});

describe('eviction watcher quick check', () => {
  it('a threshold crossed between rounds is acted on within the quick check, not the interval', async () => {
    const sim = new SimRuntime({ seed: 8 });
    const bus = new Bus({ name: 'main' });
    const evicted: string[] = [];
    const { settings } = parseEvictionSettings({
      evictionHard: { 'memory.available': '1Gi' },
      evictionSoft: {},
      evictionSoftGracePeriod: {},
      evictionMinimumReclaim: {},
      evictionMaxPodGracePeriod: 0,
      evictionPressureTransitionPeriod: 5000,
    });
    const actor = new EvictionActor({
      runtime: { embedded: sim, name: 'sim' },
      bus,
      settings,
      nodeName: 'n1',
      rootDir: tmpdir(),
      podLogsDir: join(tmpdir(), 'no-such-logs'),
      intervalMs: 3_600_000,
      quickCheckMs: 100,
      simNode: true,
      evict: (m) => {
        evicted.push(m.name);
      },
      reclaim: () => Promise.resolve(0),
    });
    try {
      const ref = newPod('quick');
      actor.track(podSpec(ref));
      actor.start();
      await waitFor('the first round', async () => ((await bus.call('eviction.state', {})).rounds >= 1 ? true : undefined));
      const t0 = Date.now();
      sim.setNodeFigures({ memory: { availableBytes: 100 * Mi } });
      await waitFor('the eviction, with no round asked for', () => (evicted.length > 0 ? true : undefined), 5000, 10);
      assert.ok(Date.now() - t0 < 5000);
      assert.deepEqual((await bus.call('eviction.state', {})).conditions, ['MemoryPressure']);
    } finally {
      await actor.stop();
      bus.close();
      await sim.close();
    }
  });
});
