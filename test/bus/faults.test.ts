// Fault injection: drop, duplicate, delay and reorder per topic, seeded so a run repeats
// exactly; switchable at run time; applied to envelopes arriving from other buses too, so chaos
// needs no change in actor code. Time-dependent faults run on a manual clock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { Bus, BusError, connectPort, type TopicFaults } from '../../src/bus/index.js';
import { ManualClock, metric, nameOf, settle, upd } from './helpers.js';

async function run(seed: number, f: TopicFaults, n = 50): Promise<{ got: string[]; ids: string[]; dropped: number }> {
  const registry = new Registry();
  const clock = new ManualClock();
  const bus = new Bus({ name: 'f', seed, clock, registry });
  const got: string[] = [];
  const ids: string[] = [];
  bus.subscribe(
    'pod.update',
    (m, env) => {
      got.push(nameOf(m));
      ids.push(env.id);
    },
    { capacity: 10_000 },
  );
  bus.faults.set('pod.update', f);
  for (let i = 0; i < n; i++) bus.publish('pod.update', upd(String(i)));
  clock.advance(1000);
  await settle();
  const dropped = await metric(registry, 'kubelet_ts_bus_dropped_total', { topic: 'pod.update', reason: 'fault' });
  bus.close();
  return { got, ids, dropped };
}

const seq = (n: number): string[] => Array.from({ length: n }, (_, i) => String(i));

describe('bus fault injection', () => {
  it('is off by default', async () => {
    assert.deepEqual((await run(1, {})).got, seq(50));
  });

  it('drop: all, or a seeded fraction that repeats exactly for a seed; every drop counted', async () => {
    const all = await run(1, { drop: 1 });
    assert.deepEqual(all.got, []);
    assert.equal(all.dropped, 50);
    const half = await run(7, { drop: 0.5 });
    assert.ok(half.got.length > 10 && half.got.length < 40, `about half dropped (${half.got.length})`);
    assert.equal(half.dropped, 50 - half.got.length);
    assert.deepEqual((await run(7, { drop: 0.5 })).got, half.got, 'same seed, same drops');
    assert.notDeepEqual((await run(8, { drop: 0.5 })).got, half.got, 'another seed, other drops');
    assert.deepEqual(
      half.got,
      half.got.slice().sort((a, b) => Number(a) - Number(b)),
      'drops do not reorder',
    );
  });

  it('duplicate: the same envelope (same id) twice, in place', async () => {
    const { got, ids } = await run(3, { duplicate: 1 }, 5);
    assert.deepEqual(got, ['0', '0', '1', '1', '2', '2', '3', '3', '4', '4']);
    for (let i = 0; i < ids.length; i += 2) assert.equal(ids[i], ids[i + 1]);
  });

  it('delay: nothing before the minimum, everything by the maximum, order from the seed', async () => {
    const clock = new ManualClock();
    const bus = new Bus({ name: 'd', seed: 11, clock });
    const got: string[] = [];
    bus.subscribe('pod.update', (m) => void got.push(nameOf(m)));
    bus.faults.set('pod.update', { delayMs: [10, 20] });
    for (let i = 0; i < 20; i++) bus.publish('pod.update', upd(String(i)));
    clock.advance(9);
    await settle();
    assert.deepEqual(got, []);
    clock.advance(11);
    await settle();
    assert.deepEqual(
      got.slice().sort((a, b) => Number(a) - Number(b)),
      seq(20),
    );
    assert.notDeepEqual(got, seq(20), 'random delays reorder');
    assert.deepEqual((await run(11, { delayMs: [10, 20] }, 20)).got, got, 'same seed, same order');
    bus.close();
  });

  it('reorder: each window released shuffled, deterministically for a seed', async () => {
    const a = await run(5, { reorderWindow: 10 });
    assert.equal(a.got.length, 50);
    for (let w = 0; w < 50; w += 10)
      assert.deepEqual(
        a.got.slice(w, w + 10).sort((x, y) => Number(x) - Number(y)),
        seq(50).slice(w, w + 10),
        `window ${w / 10} holds its own messages`,
      );
    assert.notDeepEqual(a.got, seq(50));
    assert.deepEqual((await run(5, { reorderWindow: 10 })).got, a.got);
  });

  it('reorder: a partial window is released after reorderHoldMs, or when the rule changes; nothing is lost', async () => {
    const clock = new ManualClock();
    const bus = new Bus({ name: 'r', seed: 2, clock });
    const got: string[] = [];
    bus.subscribe('pod.update', (m) => void got.push(nameOf(m)));
    bus.faults.set('pod.update', { reorderWindow: 10, reorderHoldMs: 30 });
    for (const n of ['a', 'b', 'c']) bus.publish('pod.update', upd(n));
    clock.advance(29);
    await settle();
    assert.deepEqual(got, []);
    clock.advance(1);
    await settle();
    assert.deepEqual(got.slice().sort(), ['a', 'b', 'c']);
    bus.publish('pod.update', upd('d'));
    bus.faults.clear('pod.update');
    await settle();
    assert.deepEqual(got.slice(3), ['d']);
    bus.close();
  });

  it('switches at run time and validates rules with KTS_BUS_INVALID_CONFIG', async () => {
    const bus = new Bus({ name: 's' });
    const got: string[] = [];
    bus.subscribe('pod.update', (m) => void got.push(nameOf(m)));
    bus.faults.set('pod.update', { drop: 1 });
    bus.publish('pod.update', upd('lost'));
    assert.deepEqual(bus.faults.get('pod.update'), { drop: 1 });
    bus.faults.clear();
    assert.equal(bus.faults.active, false);
    bus.publish('pod.update', upd('after'));
    await settle();
    assert.deepEqual(got, ['after']);
    for (const bad of [{ drop: 2 }, { duplicate: -0.1 }, { delayMs: [5, 1] as [number, number] }, { reorderWindow: 1 }, { drop: Number.NaN }]) {
      assert.throws(
        () => bus.faults.set('pod.update', bad),
        (e: unknown) => e instanceof BusError && e.code === 'KTS_BUS_INVALID_CONFIG',
      );
    }
    bus.close();
  });

  it('applies to envelopes from another bus and to requests, with no change on the publishing side', async () => {
    const main = new Bus({ name: 'main' });
    const worker = new Bus({ name: 'worker' });
    const { port1, port2 } = new MessageChannel();
    const bridges = [connectPort(main, port1), connectPort(worker, port2)];
    const got: string[] = [];
    main.subscribe('actor.health', (m) => void got.push(m.actor));
    worker.respond('ping', () => 'pong');
    main.faults.set('actor.health', { drop: 1 });
    worker.publish('actor.health', { type: 'health', actor: 'dropped', ok: true });
    main.faults.set('_req.ping', { drop: 1 });
    await assert.rejects(main.request('ping', null, 100), (e: unknown) => e instanceof BusError && e.code === 'KTS_BUS_TIMEOUT');
    main.faults.clear();
    worker.publish('actor.health', { type: 'health', actor: 'kept', ok: true });
    assert.equal(await main.request('ping', null, 2000), 'pong');
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(got, ['kept']);
    for (const b of bridges) b.close();
    main.close();
    worker.close();
  });
});
