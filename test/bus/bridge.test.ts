// The Bridge interface (what the NATS bridge will implement) and the port bridge's edges: a tap
// sees every routed envelope and never gets its own back, topic filters, a message that cannot
// be cloned, a port closed by the far side, a bridge that carries no requests.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { Bus, BusError, connectPort, type Envelope, type MessageOf } from '../../src/bus/index.js';
import { metric, nameOf, settle, upd } from './helpers.js';

const health = (actor: string): MessageOf<'actor.health'> => ({ type: 'health', actor, ok: true });
const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('bus bridges', () => {
  it('a tap sees what is routed (requests included; replies go only toward their requester), never what it injected', async () => {
    const bus = new Bus({ name: 'main' });
    const seen: Envelope[] = [];
    const handle = bus.bridge({ name: 'tap', outbound: (env) => void seen.push(env) });
    bus.respond('ping', () => 'pong');
    bus.publish('actor.health', health('local'));
    assert.equal(await bus.request('ping', null, 1000), 'pong');
    handle.inject({ v: 1, id: 'far-1', topic: 'actor.health', source: 'nats', ts: 1, msg: health('far') });
    const got: string[] = [];
    bus.subscribe('actor.health', (m) => void got.push(m.actor));
    handle.inject({ v: 1, id: 'far-2', topic: 'actor.health', source: 'nats', ts: 1, msg: health('far2') });
    await settle();
    assert.deepEqual(
      seen.map((e) => e.topic),
      ['actor.health', '_req.ping'],
      'the local answer wins; the tap never sees the injected envelopes',
    );
    assert.deepEqual(got, ['far2']);
    handle.detach();
    bus.publish('actor.health', health('after'));
    assert.equal(seen.length, 2);
    bus.close();
  });

  it('a bridge that carries no requests does not count as a route: NO_RESPONDER at once', async () => {
    const bus = new Bus({ name: 'main' });
    bus.bridge({ outbound: () => undefined, carriesRequests: false });
    await assert.rejects(bus.request('x', null, 60_000), (e: unknown) => e instanceof BusError && e.code === 'KTS_BUS_NO_RESPONDER');
    bus.close();
  });

  it('forwards only the listed topics (request/reply always)', async () => {
    const main = new Bus({ name: 'main' });
    const worker = new Bus({ name: 'worker' });
    const { port1, port2 } = new MessageChannel();
    const bridges = [connectPort(main, port1, { topics: ['actor.health'] }), connectPort(worker, port2)];
    const got: string[] = [];
    worker.subscribe('actor.health', (m) => void got.push(m.actor));
    worker.subscribe('pod.update', (m) => void got.push(nameOf(m)));
    worker.respond('ping', () => 'pong');
    main.publish('pod.update', upd('filtered'));
    main.publish('actor.health', health('crossed'));
    assert.equal(await main.request('ping', null, 2000), 'pong');
    await wait(20);
    assert.deepEqual(got, ['crossed']);
    for (const b of bridges) b.close();
    main.close();
    worker.close();
  });

  it('a message that cannot be cloned is counted as a drop for the bridge; local delivery goes on', async () => {
    const registry = new Registry();
    const main = new Bus({ name: 'main', registry });
    const worker = new Bus({ name: 'worker' });
    const { port1, port2 } = new MessageChannel();
    const bridges = [connectPort(main, port1), connectPort(worker, port2)];
    const local: string[] = [];
    const far: string[] = [];
    main.subscribe('actor.health', (m) => void local.push(m.actor));
    worker.subscribe('actor.health', (m) => void far.push(m.actor));
    // A bug in a publisher: a function inside a message (the types forbid it only statically).
    main.publish('actor.health', { ...health('bad'), message: (() => 'x') as unknown as string });
    main.publish('actor.health', health('good'));
    await wait(20);
    assert.deepEqual(local, ['bad', 'good']);
    assert.deepEqual(far, ['good']);
    assert.equal(await metric(registry, 'kubelet_ts_bus_dropped_total', { topic: 'actor.health', reason: 'bridge-error' }), 1);
    for (const b of bridges) b.close();
    main.close();
    worker.close();
  });

  it('a port closed by the far side detaches its bridge', async () => {
    const main = new Bus({ name: 'main' });
    const worker = new Bus({ name: 'worker' });
    const { port1, port2 } = new MessageChannel();
    connectPort(main, port1);
    const far = connectPort(worker, port2);
    worker.respond('ping', () => 'pong');
    assert.equal(await main.request('ping', null, 2000), 'pong');
    far.close();
    await wait(20);
    await assert.rejects(main.request('ping', null, 60_000), (e: unknown) => e instanceof BusError && e.code === 'KTS_BUS_NO_RESPONDER');
    main.close();
    worker.close();
  });
});
