// Worker entry for the bus test: a bus in this thread joined to the main one by a port; it
// answers "double" requests, republishes pod.update removes as actor.health, and on demand posts
// garbage straight onto the port.
import { workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { Bus, connectPort } from '../../src/bus/index.js';

const { port } = workerData as { port: MessagePort };
const bus = new Bus({ name: 'worker' });
connectPort(bus, port);
bus.respond<number, number>('double', (n) => {
  if (n < 0) throw new Error('negative numbers are refused');
  return n * 2;
});
bus.subscribe('pod.update', (m) => {
  if (m.type === 'remove') bus.publish('actor.health', { type: 'health', actor: 'worker', ok: true, message: `saw remove of ${m.pod.metadata.name ?? ''}` });
  if (m.pod.metadata.name === 'send-garbage') {
    port.postMessage({ v: 1, id: 'x', topic: 'no.such.topic', source: 'worker', ts: 1, msg: { type: 'x' } });
    port.postMessage('garbage');
    bus.publish('actor.health', { type: 'health', actor: 'worker', ok: true, message: 'after garbage' });
  }
});
