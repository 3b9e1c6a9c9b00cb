// A real worker thread joined to the main bus by a MessagePort (connectPort on both ends):
// topics cross both ways, requests are answered both ways (including a request the worker
// makes while answering one), coded errors survive the crossing, and garbage posted by the
// worker is refused and counted without disturbing anything.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { Bus, BusError, connectPort } from '../../src/bus/index.js';
import { metric, pod, upd } from './helpers.js';

async function until<T>(what: string, f: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('bus across a worker thread', () => {
  it('publishes, answers and asks across the port; refuses garbage from the worker', async () => {
    const registry = new Registry();
    const bus = new Bus({ name: 'main', registry });
    const { port1, port2 } = new MessageChannel();
    const bridge = connectPort(bus, port1, { name: 'worker' });
    const health: string[] = [];
    bus.subscribe('actor.health', (m) => void health.push(m.message ?? ''));
    bus.respond('whoami', () => 'main');
    const worker = new Worker(fileURLToPath(new URL('./fixtures/bus-worker.js', import.meta.url)), { workerData: { port: port2 }, transferList: [port2] });
    let exited = false;
    worker.once('exit', () => (exited = true));
    try {
      await until('worker ready', () => (health.includes('ready') ? true : undefined));
      assert.equal(await bus.request<number, number>('double', 21, 2000), 42);
      await assert.rejects(
        bus.request('double', -1, 2000),
        (e: unknown) => e instanceof BusError && e.code === 'KTS_BUS_REMOTE' && e.remoteCode === 'KTS_TEST_NEGATIVE',
      );
      assert.equal(await bus.request('ask-main', null, 2000), 'main says main');
      await assert.rejects(bus.request('nobody', null, 60_000), (e: unknown) => e instanceof BusError && e.code === 'KTS_BUS_NO_RESPONDER');

      bus.publish('pod.update', { type: 'remove', pod: pod('gone'), source: 'file' });
      bus.publish('pod.update', upd('kept'));
      await until('worker saw both, in order', () => (health.includes('saw update of kept') ? true : undefined));
      assert.deepEqual(health.slice(1), ['saw remove of gone', 'saw update of kept']);

      bus.publish('pod.update', upd('send-garbage'));
      await until('bus alive after garbage', () => (health.includes('after garbage') ? true : undefined));
      assert.equal(await metric(registry, 'kubelet_ts_bus_rejected_total'), 3);
      assert.equal(await metric(registry, 'kubelet_ts_bus_rejected_total', { reason: 'unknown-topic' }), 1);
      assert.equal(await metric(registry, 'kubelet_ts_bus_rejected_total', { reason: 'not-object' }), 1);
      assert.equal(await metric(registry, 'kubelet_ts_bus_rejected_total', { reason: 'message-field' }), 1);
      assert.equal(await bus.request<number, number>('double', 1, 2000), 2, 'still answering after garbage');
      assert.equal(exited, false, 'the worker is alive');
      assert.equal(await metric(registry, 'kubelet_ts_bus_inbound_total', { topic: 'actor.health' }), 4);
    } finally {
      bridge.close();
      await worker.terminate();
      bus.close();
    }
  });
});
