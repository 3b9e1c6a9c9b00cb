// Request/reply: answers, responder errors with their codes, timeouts (on a manual clock), no
// responder here, and across port bridges: a request answered two hops away through the main
// bus, and KTS_BUS_NO_RESPONDER (not a timeout) when no bus anywhere responds.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { Bus, BusError, connectPort, type PortBridge } from '../../src/bus/index.js';
import { ManualClock, metric, settle } from './helpers.js';

const code = (c: string) => (e: unknown) => e instanceof BusError && e.code === c;

class PodNotFound extends Error {
  readonly code = 'KTS_POD_NOT_FOUND';
}

/** Buses joined by MessageChannels inside this thread (same bridge code as across threads). */
function join(a: Bus, b: Bus): PortBridge[] {
  const { port1, port2 } = new MessageChannel();
  return [connectPort(a, port1, { name: b.name }), connectPort(b, port2, { name: a.name })];
}

describe('bus request/reply', () => {
  it('answers, and reports a responder error with its code', async () => {
    const bus = new Bus({ name: 't' });
    bus.respond<number, number>('inc', (n) => {
      if (n > 10) throw new PodNotFound('no pod with that number');
      return n + 1;
    });
    assert.equal(await bus.request<number, number>('inc', 1), 2);
    await assert.rejects(
      bus.request('inc', 11),
      (e: unknown) => e instanceof BusError && e.code === 'KTS_BUS_REMOTE' && e.remoteCode === 'KTS_POD_NOT_FOUND' && /no pod with that number/.test(e.message),
    );
    bus.close();
  });

  it('handles requests concurrently: a slow answer does not hold a fast one', async () => {
    const bus = new Bus({ name: 't' });
    bus.respond<number, number>('wait', (ms) => new Promise((r) => setTimeout(() => r(ms), ms)));
    const order: number[] = [];
    await Promise.all([bus.request<number, number>('wait', 30).then((v) => order.push(v)), bus.request<number, number>('wait', 1).then((v) => order.push(v))]);
    assert.deepEqual(order, [1, 30]);
    bus.close();
  });

  it('times out on the injected clock with KTS_BUS_TIMEOUT; a late reply is counted, not delivered', async () => {
    const clock = new ManualClock();
    const registry = new Registry();
    const bus = new Bus({ name: 't', clock, registry });
    let answer: (v: number) => void = () => undefined;
    bus.respond<number, number>('slow', () => new Promise<number>((r) => (answer = r)));
    const p = bus.request('slow', 1, 50);
    await settle();
    clock.advance(49);
    let done = false;
    p.then(
      () => (done = true),
      () => (done = true),
    );
    await settle();
    assert.equal(done, false);
    clock.advance(1);
    await assert.rejects(p, code('KTS_BUS_TIMEOUT'));
    answer(2);
    await settle();
    assert.equal(await metric(registry, 'kubelet_ts_bus_dropped_total', { topic: '_reply', reason: 'unmatched-reply' }), 1);
    bus.close();
  });

  it('rejects at once with KTS_BUS_NO_RESPONDER when nothing could answer; close rejects pending', async () => {
    const bus = new Bus({ name: 't' });
    await assert.rejects(bus.request('nobody', 1), code('KTS_BUS_NO_RESPONDER'));
    bus.respond('never', () => new Promise(() => undefined));
    const p = bus.request('never', 1, 10_000);
    bus.close();
    await assert.rejects(p, code('KTS_BUS_CLOSED'));
  });

  it('across a port bridge: both ways, errors keep their code', async () => {
    const main = new Bus({ name: 'main' });
    const worker = new Bus({ name: 'worker' });
    const bridges = join(main, worker);
    worker.respond<string, string>('echo', (s) => `worker:${s}`);
    main.respond<string, string>('whoami', () => 'main');
    worker.respond('fail', () => {
      throw new PodNotFound('gone');
    });
    assert.equal(await main.request('echo', 'hi', 2000), 'worker:hi');
    assert.equal(await worker.request('whoami', null, 2000), 'main');
    await assert.rejects(
      main.request('fail', null, 2000),
      (e: unknown) => e instanceof BusError && e.code === 'KTS_BUS_REMOTE' && e.remoteCode === 'KTS_POD_NOT_FOUND',
    );
    // Nobody on either side: the far side says so, no timeout needed.
    await assert.rejects(main.request('nobody', null, 60_000), code('KTS_BUS_NO_RESPONDER'));
    for (const b of bridges) b.close();
    main.close();
    worker.close();
  });

  it('through a relay: worker A asks worker B via the main bus; NO_RESPONDER only when every route said so', async () => {
    const registry = new Registry();
    const main = new Bus({ name: 'main', registry });
    const a = new Bus({ name: 'a' });
    const b = new Bus({ name: 'b' });
    const c = new Bus({ name: 'c' });
    const bridges = [...join(main, a), ...join(main, b), ...join(main, c)];
    b.respond<number, string>('status', (n) => `b has ${n}`);
    assert.equal(await a.request('status', 3, 2000), 'b has 3');
    main.respond('local', () => 'main answers');
    assert.equal(await main.request('local', null, 2000), 'main answers');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await metric(registry, 'kubelet_ts_bus_dropped_total'), 0, 'late "no responder" answers from other routes are not drops');
    await assert.rejects(a.request('nobody', null, 60_000), code('KTS_BUS_NO_RESPONDER'));
    await assert.rejects(main.request('nobody', null, 60_000), code('KTS_BUS_NO_RESPONDER'));
    // Topics cross the relay too, never echoed back to their source.
    const seen: string[] = [];
    for (const bus of [main, a, b, c]) bus.subscribe('actor.health', (m) => void seen.push(`${bus.name}<-${m.actor}`));
    a.publish('actor.health', { type: 'health', actor: 'a', ok: true });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen.sort(), ['a<-a', 'b<-a', 'c<-a', 'main<-a']);
    for (const x of bridges) x.close();
    for (const bus of [main, a, b, c]) bus.close();
  });
});
