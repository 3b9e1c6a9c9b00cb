// Publish/subscribe in one thread: asynchronous in-order delivery, fan-out, filters,
// unsubscribe, a throwing subscriber isolated, correlation ids and envelopes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Bus, BusError, type Envelope, type MessageOf } from '../../src/bus/index.js';
import { captureLogger, metric, nameOf, settle, upd } from './helpers.js';

describe('bus publish/subscribe', () => {
  it('delivers in publication order, never inside publish, to every subscriber', async () => {
    const bus = new Bus({ name: 't' });
    const a: string[] = [];
    const b: string[] = [];
    bus.subscribe('pod.update', (m) => void a.push(nameOf(m)));
    bus.subscribe('pod.update', (m) => void b.push(nameOf(m)));
    for (let i = 0; i < 200; i++) {
      bus.publish('pod.update', upd(String(i)));
      assert.equal(a.length, 0, 'never synchronously inside publish');
    }
    await settle(20);
    const want = Array.from({ length: 200 }, (_, i) => String(i));
    assert.deepEqual(a, want);
    assert.deepEqual(b, want);
    bus.close();
  });

  it('keeps one message in flight per subscriber: an async handler holds the next one', async () => {
    const bus = new Bus({ name: 't' });
    const log: string[] = [];
    bus.subscribe('pod.update', async (m) => {
      log.push(`start ${nameOf(m)}`);
      await new Promise((r) => setTimeout(r, 5));
      log.push(`end ${nameOf(m)}`);
    });
    bus.publish('pod.update', upd('1'));
    bus.publish('pod.update', upd('2'));
    await new Promise((r) => setTimeout(r, 40));
    assert.deepEqual(log, ['start 1', 'end 1', 'start 2', 'end 2']);
    bus.close();
  });

  it('filters per subscription and stops delivering after unsubscribe', async () => {
    const registry = new Registry();
    const bus = new Bus({ name: 't', registry });
    const all: string[] = [];
    const some: string[] = [];
    const off = bus.subscribe('pod.update', (m) => void all.push(nameOf(m)));
    bus.subscribe('pod.update', (m) => void some.push(nameOf(m)), { filter: (m) => m.type === 'update' && nameOf(m) !== 'x' });
    bus.publish('pod.update', upd('one'));
    bus.publish('pod.update', upd('x'));
    bus.publish('pod.update', { type: 'remove', pod: upd('r').pod, source: 'file' });
    await settle();
    assert.deepEqual(all, ['one', 'x', 'r']);
    assert.deepEqual(some, ['one']);
    off();
    off(); // idempotent
    bus.publish('pod.update', upd('later'));
    await settle();
    assert.deepEqual(all, ['one', 'x', 'r']);
    assert.deepEqual(some, ['one', 'later']);
    assert.equal(await metric(registry, 'kubelet_ts_bus_published_total', { topic: 'pod.update' }), 4);
    assert.equal(await metric(registry, 'kubelet_ts_bus_delivered_total', { topic: 'pod.update' }), 5);
    bus.close();
  });

  it('drops and counts what was queued for a subscriber that unsubscribes', async () => {
    const registry = new Registry();
    const bus = new Bus({ name: 't', registry });
    const got: string[] = [];
    const off = bus.subscribe('pod.update', (m) => void got.push(nameOf(m)));
    bus.publish('pod.update', upd('a'));
    bus.publish('pod.update', upd('b'));
    off();
    await settle();
    assert.deepEqual(got, []);
    assert.equal(await metric(registry, 'kubelet_ts_bus_dropped_total', { topic: 'pod.update', reason: 'unsubscribed' }), 2);
    bus.close();
  });

  it('isolates a throwing or rejecting subscriber and a throwing filter: logged, counted, the rest delivered', async () => {
    const registry = new Registry();
    const { logger, lines } = captureLogger();
    const bus = new Bus({ name: 't', registry, logger });
    const got: string[] = [];
    const other: string[] = [];
    bus.subscribe('pod.update', async (m) => {
      if (nameOf(m) === 'bad') throw new Error('boom');
      if (nameOf(m) === 'worse') return Promise.reject(new Error('async boom'));
      got.push(nameOf(m));
    });
    bus.subscribe('pod.update', (m) => void other.push(nameOf(m)), {
      filter: (m) => {
        if (nameOf(m) === 'c') throw new Error('filter boom');
        return true;
      },
    });
    for (const n of ['a', 'bad', 'b', 'worse', 'c']) bus.publish('pod.update', upd(n));
    await settle();
    assert.deepEqual(got, ['a', 'b', 'c']);
    assert.deepEqual(other, ['a', 'bad', 'b', 'worse']);
    assert.equal(await metric(registry, 'kubelet_ts_bus_handler_errors_total', { topic: 'pod.update' }), 3);
    const errs = lines.filter((l) => l['msg'] === 'bus subscriber failed; it keeps receiving').map((l) => l['err']);
    assert.deepEqual(errs, ['boom', 'async boom']);
    bus.close();
  });

  it('wraps each message in a versioned envelope with id, source, time and correlation', async () => {
    let n = 0;
    const bus = new Bus({ name: 'main', newId: () => `id-${++n}`, clock: { now: () => 42, setTimeout: () => ({ cancel: () => undefined }) } });
    const envs: Envelope<'actor.health', MessageOf<'actor.health'>>[] = [];
    bus.subscribe('actor.health', (_m, env) => void envs.push(env));
    bus.publish('actor.health', { type: 'health', actor: 'pleg', ok: true });
    bus.publish('actor.health', { type: 'health', actor: 'pleg', ok: false, message: 'relist stuck' }, { corr: 'id-1' });
    await settle();
    assert.deepEqual(envs, [
      { v: 1, id: 'id-1', topic: 'actor.health', source: 'main', ts: 42, msg: { type: 'health', actor: 'pleg', ok: true } },
      {
        v: 1,
        id: 'id-2',
        topic: 'actor.health',
        source: 'main',
        ts: 42,
        corr: 'id-1',
        msg: { type: 'health', actor: 'pleg', ok: false, message: 'relist stuck' },
      },
    ]);
    bus.close();
  });

  it('after close: publish is a no-op, subscribe and request fail with KTS_BUS_CLOSED', async () => {
    const bus = new Bus({ name: 't' });
    bus.close();
    bus.publish('pod.update', upd('a'));
    assert.throws(
      () => bus.subscribe('pod.update', () => undefined),
      (e: unknown) => e instanceof BusError && e.code === 'KTS_BUS_CLOSED',
    );
    await assert.rejects(bus.request('x', 1), (e: unknown) => e instanceof BusError && e.code === 'KTS_BUS_CLOSED');
    assert.throws(
      () => new Bus({ name: 'u' }).subscribe('pod.update', () => undefined, { capacity: 0 }),
      (e: unknown) => e instanceof BusError && e.code === 'KTS_BUS_INVALID_CONFIG',
    );
  });
});
