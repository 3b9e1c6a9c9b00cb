// Fuzz (issue 16): random bus envelopes across the thread boundary into a running kubelet. A
// worker thread posts them through a MessagePort joined to the kubelet's main bus exactly as the
// PLEG and probe threads are (connectPort): garbage, envelopes of every topic with random
// messages, and well-shaped messages with random contents (runtime states, pod updates, probe
// results) about pods that do not exist. What must hold: nothing throws out of the bus or its
// subscribers (no uncaught exception, no unhandled rejection), the garbage is refused and
// counted, the sentinel pod keeps its container, and the kubelet keeps serving its pods.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { connectPort } from '../../src/bus/index.js';
import { TOPICS } from '../../src/bus/messages.js';
import { PLEG_THREAD_TOPICS } from '../../src/actors/pleg/protocol.js';
import { PROBE_THREAD_TOPICS } from '../../src/actors/probes/protocol.js';
import { FUZZ_SEED, podObject, runs, hostileString } from './arbitraries.js';
import { startStaticNode, type StaticNode } from '../helpers/static-node.js';

const POSTER = `
const { workerData, parentPort } = require('node:worker_threads');
parentPort.on('message', (batch) => {
  for (const e of batch) {
    try { workerData.port.postMessage(e); } catch (err) { parentPort.postMessage({ unclonable: String(err) }); }
  }
  parentPort.postMessage({ done: batch.length });
});
`;

const uid = (): fc.Arbitrary<string> => fc.oneof(fc.uuid(), hostileString());
const stateObject = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.anything({ maxDepth: 3 }),
    fc.record({
      uid: uid(),
      name: hostileString(),
      namespace: hostileString(),
      sandboxes: fc.oneof(
        fc.anything({ maxDepth: 2 }),
        fc.array(
          fc.record({ id: fc.oneof(fc.string(), fc.integer()), attempt: fc.anything(), ready: fc.anything(), createdAt: fc.anything(), ip: fc.anything() }),
          { maxLength: 2 },
        ),
      ),
      containers: fc.oneof(
        fc.anything({ maxDepth: 2 }),
        fc.array(
          fc.record({
            id: fc.oneof(fc.string(), fc.integer()),
            name: hostileString(),
            state: fc.constantFrom('running', 'exited', 'created', 'unknown', 'x'),
            attempt: fc.anything(),
            exitCode: fc.anything(),
            startedAt: fc.anything(),
            finishedAt: fc.anything(),
          }),
          { maxLength: 3 },
        ),
      ),
      observedAt: fc.anything({ maxDepth: 0 }),
    }),
  );

const messageFor = (topic: string): fc.Arbitrary<unknown> => {
  switch (topic) {
    case 'pod.state':
      return fc.oneof(
        fc.record({ type: fc.constant('state'), uid: uid(), state: stateObject(), events: fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 2 }) }),
        fc.record({ type: fc.constant('gone'), uid: uid(), events: fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 2 }) }),
      );
    case 'pod.update':
      return fc.record({
        type: fc.constantFrom('add', 'update', 'remove'),
        pod: fc.oneof(podObject(), fc.record({ metadata: fc.anything({ maxDepth: 1 }) })),
        source: fc.constantFrom('file', 'http', 'junk'),
        gracePeriodSeconds: fc.option(fc.anything({ maxDepth: 0 }), { nil: undefined }),
      });
    case 'probe.result':
      return fc.record({
        type: fc.constant('result'),
        podUid: uid(),
        containerName: hostileString(),
        containerId: hostileString(),
        probe: fc.constantFrom('liveness', 'readiness', 'startup', 'x'),
        result: fc.constantFrom('success', 'failure', 'unknown', 'x'),
        message: fc.option(fc.string(), { nil: undefined }),
        at: fc.double(),
      });
    case 'pod.worker':
      return fc.record({
        type: fc.constantFrom('terminated', 'gone', 'x'),
        uid: uid(),
        namespace: hostileString(),
        name: hostileString(),
        status: fc.option(fc.anything({ maxDepth: 1 }), { nil: undefined }),
      });
    default:
      return fc.oneof(fc.anything({ maxDepth: 2 }), fc.record({ type: hostileString() }));
  }
};

const envelope = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
    {
      weight: 4,
      arbitrary: fc.constantFrom(...TOPICS, '_reply', '_req.pod', 'no.such').chain((topic) =>
        fc.record({
          v: fc.oneof({ weight: 9, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.anything({ maxDepth: 0 }) }),
          id: fc.oneof(fc.uuid(), fc.string()),
          topic: fc.constant(topic),
          source: fc.constantFrom('pleg', 'probes', 'fuzz'),
          ts: fc.oneof(fc.constant(Date.now()), fc.double()),
          msg: messageFor(topic),
        }),
      ),
    },
  );

describe('fuzz: random bus envelopes into a running kubelet', () => {
  let node: StaticNode;
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => void uncaught.push(err);

  before(async () => {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
    node = await startStaticNode({ runtime: 'sim', nodeName: 'bus-fuzz' });
    node.writePod('sentinel', { containers: [{ name: 'c', command: ['sleep', 'infinity'] }] });
    await node.waitStatus('sentinel', 'Running', (s) => s.phase === 'Running');
  });

  after(async () => {
    await node?.close();
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
  });

  it(`refuses or survives every envelope; the sentinel keeps its container (seed ${FUZZ_SEED})`, async () => {
    const before = node.status('sentinel')?.containerStatuses?.[0];
    assert.ok(before?.containerID);
    const { port1, port2 } = new MessageChannel();
    // The bridge as the main thread opens it for its PLEG and probe threads (ThreadHost).
    const bridge = connectPort(node.kubelet.bus, port1, { name: 'fuzz', topics: [], inbound: [...PLEG_THREAD_TOPICS, ...PROBE_THREAD_TOPICS] });
    const poster = new Worker(POSTER, { eval: true, workerData: { port: port2 }, transferList: [port2] });
    const cases = fc.sample(envelope(), { numRuns: runs(400, 4000), seed: FUZZ_SEED });
    try {
      for (let at = 0; at < cases.length; at += 100) {
        const batch = cases.slice(at, at + 100);
        const done = new Promise<void>((resolve) => {
          const on = (m: { done?: number }): void => {
            if (m.done === undefined) return;
            poster.off('message', on);
            resolve();
          };
          poster.on('message', on);
        });
        poster.postMessage(batch);
        await done;
        await sleep(50);
        assert.deepEqual(uncaught.map(String), [], `thrown out of the bus after batch ${at / 100} (seed ${FUZZ_SEED})`);
      }
      // Let timers that read what was delivered (housekeeping every 2 s, syncs, GC) run on it.
      await sleep(4500);
      assert.deepEqual(uncaught.map(String), [], `thrown after the envelopes (seed ${FUZZ_SEED})`);
      const metrics = await node.kubelet.registry.getSingleMetricAsString('kubelet_ts_bus_rejected_total');
      const rejected = [...metrics.matchAll(/^kubelet_ts_bus_rejected_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
      assert.ok(rejected > cases.length / 10, `only ${rejected} of ${cases.length} envelopes refused`);
      const after = node.status('sentinel')?.containerStatuses?.[0];
      assert.equal(after?.containerID, before.containerID, 'the sentinel container was replaced');
      assert.equal(after?.restartCount, before.restartCount);
      // The node still runs pods: a new one starts.
      node.writePod('after-fuzz', { containers: [{ name: 'c', command: ['sleep', 'infinity'] }] });
      await node.waitStatus('after-fuzz', 'Running', (s) => s.phase === 'Running', 30_000);
      process.stdout.write(`# fuzz bus: ${cases.length} envelopes, ${rejected} refused\n`);
    } finally {
      bridge.close();
      await poster.terminate();
    }
  });
});
