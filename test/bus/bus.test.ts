// The bus: pub/sub, isolation, bounded and coalescing queues with counted drops, request/reply,
// fault injection (seeded), garbage refused, and a real worker thread across a MessagePort.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { Bus, BusError, connectPort, type MessageOf } from '../../src/bus/index.js';
import type { Pod } from '../../src/api/core-v1.js';
import { waitFor } from '../helpers/cri-fixtures.js';

const pod = (name: string, uid = name): Pod => ({ metadata: { name, uid, namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'i:1' }] } });
const upd = (name: string, uid = name): MessageOf<'pod.update'> => ({ type: 'update', pod: pod(name, uid), source: 'file' });
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}
async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values as { labels: Record<string, string>; value: number }[] | undefined)?.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value ?? 0;
}

describe('bus', () => {
  it('delivers in order, asynchronously, to every subscriber, until unsubscribed', async () => {
    const bus = new Bus({ name: 't' });
    const a: string[] = [];
    const b: string[] = [];
    const offA = bus.subscribe('pod.update', (m) => void a.push(m.pod.metadata.name ?? ''));
    bus.subscribe('pod.update', (m) => void b.push(m.pod.metadata.name ?? ''), { filter: (m) => m.pod.metadata.name !== 'x' });
    bus.publish('pod.update', upd('one'));
    assert.deepEqual(a, [], 'never inside publish');
    bus.publish('pod.update', upd('x'));
    bus.publish('pod.update', upd('two'));
    await settle();
    assert.deepEqual(a, ['one', 'x', 'two']);
    assert.deepEqual(b, ['one', 'two']);
    offA();
    bus.publish('pod.update', upd('three'));
    await settle();
    assert.deepEqual(a, ['one', 'x', 'two']);
    bus.close();
  });

  it('isolates a throwing subscriber', async () => {
    const registry = new Registry();
    const bus = new Bus({ name: 't', registry });
    const got: string[] = [];
    bus.subscribe('pod.update', (m) => {
      if (m.pod.metadata.name === 'bad') throw new Error('boom');
      got.push(m.pod.metadata.name ?? '');
    });
    for (const n of ['a', 'bad', 'b']) bus.publish('pod.update', upd(n));
    await settle();
    assert.deepEqual(got, ['a', 'b']);
    assert.equal(await metric(registry, 'kubelet_ts_bus_handler_errors_total', { topic: 'pod.update' }), 1);
    bus.close();
  });

  it('bounds queues, dropping oldest or newest, and counts it', async () => {
    const registry = new Registry();
    const bus = new Bus({ name: 't', registry });
    const oldest: string[] = [];
    const newest: string[] = [];
    bus.subscribe('pod.update', (m) => void oldest.push(m.pod.metadata.name ?? ''), { capacity: 2, name: 'old' });
    bus.subscribe('pod.update', (m) => void newest.push(m.pod.metadata.name ?? ''), { capacity: 2, overflow: 'drop-newest', name: 'new' });
    for (const n of ['1', '2', '3', '4']) bus.publish('pod.update', upd(n));
    await settle();
    assert.deepEqual(oldest, ['3', '4']);
    assert.deepEqual(newest, ['1', '2']);
    assert.equal(await metric(registry, 'kubelet_ts_bus_dropped_total', { topic: 'pod.update', reason: 'overflow' }), 4);
    bus.close();
  });

  it('coalesces per key: latest wins, order of first arrival kept (property)', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.nat(100)), { maxLength: 40 }), async (script) => {
      const bus = new Bus({ name: 'p' });
      const got: [string, string][] = [];
      bus.subscribe('pod.update', (m) => void got.push([m.pod.metadata.uid ?? '', m.pod.metadata.name ?? '']), { coalesce: (m) => m.pod.metadata.uid ?? '' });
      for (const [uid, n] of script) bus.publish('pod.update', upd(String(n), uid));
      await settle();
      bus.close();
      // One delivery per key, carrying the last value published for it, in first-seen order.
      const last = new Map<string, string>();
      const order: string[] = [];
      for (const [uid, n] of script) {
        if (!last.has(uid)) order.push(uid);
        last.set(uid, String(n));
      }
      assert.deepEqual(got, order.map((u) => [u, last.get(u)]));
    }), { numRuns: 100 });
  });

  it('answers requests, reports responder errors, timeouts and missing responders', async () => {
    const bus = new Bus({ name: 't' });
    await assert.rejects(bus.request('nobody', 1), (e: unknown) => e instanceof BusError && e.code === 'KTS_BUS_NO_RESPONDER');
    bus.respond<number, number>('inc', (n) => {
      if (n > 10) throw new Error('too big');
      return n + 1;
    });
    bus.respond<number, number>('slow', () => new Promise(() => undefined));
    assert.equal(await bus.request<number, number>('inc', 1), 2);
    await assert.rejects(bus.request('inc', 11), (e: unknown) => e instanceof BusError && e.code === 'KTS_BUS_REMOTE' && /too big/.test(e.message));
    await assert.rejects(bus.request('slow', 1, 50), (e: unknown) => e instanceof BusError && e.code === 'KTS_BUS_TIMEOUT');
    bus.close();
  });

  it('injects faults per topic, deterministically for a seed, and can switch them off', async () => {
    const run = async (seed: number, f: Parameters<Bus['faults']['set']>[1]): Promise<string[]> => {
      const bus = new Bus({ name: 'f', seed });
      const got: string[] = [];
      bus.subscribe('pod.update', (m) => void got.push(m.pod.metadata.name ?? ''), { capacity: 10_000 });
      bus.faults.set('pod.update', f);
      for (let i = 0; i < 50; i++) bus.publish('pod.update', upd(String(i)));
      await new Promise((r) => setTimeout(r, 30));
      await settle();
      bus.close();
      return got;
    };
    assert.deepEqual(await run(1, { drop: 1 }), []);
    const dropped = await run(7, { drop: 0.5 });
    assert.ok(dropped.length > 10 && dropped.length < 40, `about half dropped (${dropped.length})`);
    assert.deepEqual(await run(7, { drop: 0.5 }), dropped, 'same seed, same drops');
    assert.equal((await run(3, { duplicate: 1 })).length, 100);
    const reordered = await run(5, { reorderWindow: 10 });
    assert.equal(reordered.length, 50);
    assert.notDeepEqual(reordered, reordered.slice().sort((a, b) => Number(a) - Number(b)));
    const delayed = await run(9, { delayMs: [1, 5] });
    assert.equal(delayed.length, 50);
    const bus = new Bus({ name: 'off' });
    assert.throws(() => bus.faults.set('pod.update', { drop: 2 }), /within 0..1/);
    bus.faults.set('pod.update', { drop: 1 });
    bus.faults.clear();
    const got: string[] = [];
    bus.subscribe('pod.update', (m) => void got.push(m.pod.metadata.name ?? ''));
    bus.publish('pod.update', upd('after'));
    await settle();
    assert.deepEqual(got, ['after']);
    bus.close();
  });

  it('refuses garbage envelopes from a bridge and counts them', async () => {
    const registry = new Registry();
    const bus = new Bus({ name: 't', registry });
    const { inject } = bus.bridge({ outbound: () => undefined });
    const got: unknown[] = [];
    bus.subscribe('pod.update', (m) => void got.push(m));
    for (const junk of [null, 'x', { v: 2, id: 'a', topic: 'pod.update', source: 's', ts: 1, msg: { type: 'update' } }, { v: 1, id: 'a', topic: 'nope', source: 's', ts: 1, msg: { type: 'x' } }, { v: 1, id: 'a', topic: 'pod.update', source: 's', ts: 1, msg: {} }]) {
      assert.equal(inject(junk), false);
    }
    assert.equal(inject({ v: 1, id: 'ok', topic: 'pod.update', source: 's', ts: 1, msg: upd('fine') }), true);
    await settle();
    assert.equal(got.length, 1);
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'kubelet_ts_bus_rejected_total');
    assert.equal((m?.values as { value: number }[]).reduce((a, v) => a + v.value, 0), 5);
    bus.close();
  });

  it('joins a real worker thread: topics and request/reply both ways, garbage refused', async () => {
    const registry = new Registry();
    const bus = new Bus({ name: 'main', registry });
    const { port1, port2 } = new MessageChannel();
    const bridge = connectPort(bus, port1);
    const worker = new Worker(fileURLToPath(new URL('../helpers/bus-worker.js', import.meta.url)), { workerData: { port: port2 }, transferList: [port2] });
    try {
      const health: string[] = [];
      bus.subscribe('actor.health', (m) => void health.push(m.message ?? ''));
      assert.equal(await waitFor('worker answers', () => bus.request<number, number>('double', 21, 500).catch(() => undefined), 5000), 42);
      await assert.rejects(bus.request('double', -1), /negative numbers are refused/);
      bus.publish('pod.update', { type: 'remove', pod: pod('gone'), source: 'file' });
      await waitFor('worker published back', () => (health.includes('saw remove of gone') ? true : undefined), 5000);
      bus.publish('pod.update', upd('send-garbage'));
      await waitFor('bus alive after garbage', () => (health.includes('after garbage') ? true : undefined), 5000);
      const rejected = (await registry.getMetricsAsJSON()).find((x) => x.name === 'kubelet_ts_bus_rejected_total');
      assert.equal((rejected?.values as { value: number }[]).reduce((a, v) => a + v.value, 0), 2);
    } finally {
      bridge.close();
      await worker.terminate();
      bus.close();
    }
  });
});
