// Bounded subscriptions on the bus: overflow policies, the coalescing pod.update mailbox, and
// the metrics that count every loss (kubelet_ts_bus_dropped_total{topic,reason}) and show queue
// depth (kubelet_ts_bus_queue_depth, read at scrape time).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { Bus } from '../../src/bus/index.js';
import { metric, nameOf, settle, upd } from './helpers.js';

describe('bus bounded queues', () => {
  it('drop-oldest keeps the newest, drop-newest keeps the first; both counted', async () => {
    const registry = new Registry();
    const bus = new Bus({ name: 't', registry });
    const oldest: string[] = [];
    const newest: string[] = [];
    bus.subscribe('pod.update', (m) => void oldest.push(nameOf(m)), { capacity: 2, name: 'old' });
    bus.subscribe('pod.update', (m) => void newest.push(nameOf(m)), { capacity: 3, overflow: 'drop-newest', name: 'new' });
    for (const n of ['1', '2', '3', '4', '5']) bus.publish('pod.update', upd(n));
    assert.equal(await metric(registry, 'kubelet_ts_bus_queue_depth', { subscription: 'old' }), 2);
    assert.equal(await metric(registry, 'kubelet_ts_bus_queue_depth', { subscription: 'new', topic: 'pod.update' }), 3);
    await settle();
    assert.deepEqual(oldest, ['4', '5']);
    assert.deepEqual(newest, ['1', '2', '3']);
    assert.equal(await metric(registry, 'kubelet_ts_bus_dropped_total', { topic: 'pod.update', reason: 'overflow' }), 3 + 2);
    assert.equal(await metric(registry, 'kubelet_ts_bus_delivered_total', { topic: 'pod.update' }), 5);
    assert.equal(await metric(registry, 'kubelet_ts_bus_queue_depth'), 0);
    bus.close();
  });

  it('a slow subscriber overflows alone: the others get everything', async () => {
    const registry = new Registry();
    const bus = new Bus({ name: 't', registry });
    const fast: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const slow: string[] = [];
    bus.subscribe('pod.update', (m) => void fast.push(nameOf(m)));
    bus.subscribe(
      'pod.update',
      async (m) => {
        await gate;
        slow.push(nameOf(m));
      },
      { capacity: 2, name: 'slow' },
    );
    for (let i = 0; i < 10; i++) {
      bus.publish('pod.update', upd(String(i)));
      await settle(1);
    }
    release();
    await settle();
    assert.equal(fast.length, 10);
    // The first message was taken by the handler before the gate; the mailbox kept the last two.
    assert.deepEqual(slow, ['0', '8', '9']);
    assert.equal(await metric(registry, 'kubelet_ts_bus_dropped_total', { reason: 'overflow' }), 7);
    bus.close();
  });

  it('coalesces pod.update per pod UID: latest desired state wins, replaced ones counted', async () => {
    const registry = new Registry();
    const bus = new Bus({ name: 't', registry });
    const got: string[] = [];
    bus.subscribe('pod.update', (m) => void got.push(`${m.pod.metadata.uid ?? ''}=${nameOf(m)}`), {
      coalesce: (m) => m.pod.metadata.uid ?? '',
      name: 'pod-workers',
    });
    bus.publish('pod.update', upd('v1', 'a'));
    bus.publish('pod.update', upd('v1', 'b'));
    bus.publish('pod.update', upd('v2', 'a'));
    bus.publish('pod.update', upd('v3', 'a'));
    bus.publish('pod.update', { type: 'remove', pod: upd('v2', 'b').pod, source: 'file' });
    assert.equal(await metric(registry, 'kubelet_ts_bus_queue_depth', { subscription: 'pod-workers' }), 2);
    await settle();
    assert.deepEqual(got, ['a=v3', 'b=v2']);
    assert.equal(await metric(registry, 'kubelet_ts_bus_dropped_total', { topic: 'pod.update', reason: 'coalesced' }), 3);
    bus.close();
  });

  it('property: published = delivered + counted drops, for any script, capacity and policy', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e'), fc.boolean()), { maxLength: 60 }),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom('drop-oldest' as const, 'drop-newest' as const),
        fc.boolean(),
        async (script, capacity, overflow, coalesce) => {
          const registry = new Registry();
          const bus = new Bus({ name: 'p', registry });
          const got: [string, number][] = [];
          bus.subscribe(
            'pod.update',
            (m) => void got.push([m.pod.metadata.uid ?? '', Number(nameOf(m))]),
            coalesce ? { capacity, overflow, coalesce: (m) => m.pod.metadata.uid ?? '' } : { capacity, overflow },
          );
          let i = 0;
          for (const [uid, yieldAfter] of script) {
            bus.publish('pod.update', upd(String(i++), uid));
            if (yieldAfter) await settle(1);
          }
          await settle();
          const dropped = await metric(registry, 'kubelet_ts_bus_dropped_total', { topic: 'pod.update' });
          assert.equal(got.length + dropped, script.length);
          assert.equal(await metric(registry, 'kubelet_ts_bus_delivered_total', { topic: 'pod.update' }), got.length);
          for (const uid of new Set(got.map(([u]) => u))) {
            const seqs = got.filter(([u]) => u === uid).map(([, n]) => n);
            assert.deepEqual(
              seqs,
              seqs.slice().sort((x, y) => x - y),
              `order kept for ${uid}`,
            );
          }
          if (coalesce) {
            // The last update of every pod is delivered unless a counted overflow took it.
            const last = new Map<string, number>();
            script.forEach(([uid], n) => last.set(uid, n));
            if (dropped === script.length - got.length && (await metric(registry, 'kubelet_ts_bus_dropped_total', { reason: 'overflow' })) === 0) {
              for (const [uid, n] of last)
                assert.ok(
                  got.some(([u, m]) => u === uid && m === n),
                  `latest of ${uid} delivered`,
                );
            }
          }
          bus.close();
        },
      ),
      { numRuns: 150 },
    );
  });
});
