// Fuzz (issue 16): random bus envelopes across the thread boundary into a running kubelet. A
// worker thread posts them through a MessagePort joined to the kubelet's main bus exactly as the
// PLEG and probe threads are (connectPort): garbage, envelopes of every topic with random
// messages, and well-shaped messages with random contents (runtime states, pod updates, probe
// results) about pods that do not exist, and the read-only typed requests (pleg.stats,
// pods.describe, actors.health, ...) with well-formed and random bodies, each of which must be
// answered: a reply, or an error reply for a bad body. What must hold: nothing throws out of the bus or its
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
const replies = [];
workerData.port.on('message', (e) => {
  if (!e || e.topic !== '_reply' || !e.msg) return;
  replies.push({ corr: e.corr, ok: e.msg.ok === true, code: e.msg.ok ? undefined : (e.msg.error && e.msg.error.code) || 'none' });
});
parentPort.on('message', (batch) => {
  if (batch === 'replies') return parentPort.postMessage({ replies });
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

// Requests that only read: safe to send at random to a running node (not pleg.configure,
// probes.set-pod, ...: those are commands, fuzzed by their body checks in test/bus/requests.test.ts).
const READ_ONLY_REQUESTS = ['pleg.stats', 'pleg.health', 'probes.stats', 'pods.list', 'pods.describe', 'sync-pool.stats', 'actors.health'] as const;
const requestBody = (name: (typeof READ_ONLY_REQUESTS)[number]): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 2, arbitrary: name === 'pods.describe' ? fc.record({ uid: uid() }) : fc.constant({}) },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) },
    { weight: 1, arbitrary: fc.record({ uid: fc.anything({ maxDepth: 1 }), extra: fc.anything({ maxDepth: 0 }) }) },
  );
const requestEnvelope = (): fc.Arbitrary<unknown> =>
  fc.constantFrom(...READ_ONLY_REQUESTS).chain((name) =>
    fc.record({
      v: fc.constant(1),
      id: fc.uuid(),
      topic: fc.constant(`_req.${name}`),
      source: fc.constant('fuzz'),
      ts: fc.constant(Date.now()),
      msg: fc.record({ req: requestBody(name), timeoutMs: fc.constant(5000) }),
    }),
  );

const envelope = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
    { weight: 1, arbitrary: requestEnvelope() },
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
    // Each request its own id, so each answer names the one request it answers.
    for (const [i, c] of cases.entries())
      if (READ_ONLY_REQUESTS.some((n) => (c as { topic?: unknown } | null | undefined)?.topic === `_req.${n}`)) (c as { id: string }).id = `fuzz-request-${i}`;
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
      // Every read-only request got an answer: a reply, or an error reply for a refused body.
      const sentIds = new Set(
        cases
          .filter((c) => READ_ONLY_REQUESTS.some((n) => (c as { topic?: unknown } | null | undefined)?.topic === `_req.${n}`))
          .map((c) => (c as { id: string }).id),
      );
      const replies = await new Promise<{ corr?: string; ok: boolean; code?: string }[]>((resolve) => {
        const on = (m: { replies?: { corr?: string; ok: boolean; code?: string }[] }): void => {
          if (!m.replies) return;
          poster.off('message', on);
          resolve(m.replies);
        };
        poster.on('message', on);
        poster.postMessage('replies');
      });
      const answered = replies.filter((r) => r.corr !== undefined && sentIds.has(r.corr));
      const ok = answered.filter((r) => r.ok).length;
      const codes = [...new Set(answered.filter((r) => !r.ok).map((r) => r.code))];
      assert.ok(sentIds.size > 0, 'the cases hold requests');
      assert.equal(new Set(answered.map((r) => r.corr)).size, sentIds.size, `${sentIds.size} read-only requests sent, ${answered.length} answered`);
      assert.ok(ok > 0 && ok < answered.length, `answers: ${ok} replies of ${answered.length}`);
      assert.deepEqual(codes, ['KTS_BUS_INVALID_REQUEST'], 'the only error reply is a refused body');
      const after = node.status('sentinel')?.containerStatuses?.[0];
      assert.equal(after?.containerID, before.containerID, 'the sentinel container was replaced');
      assert.equal(after?.restartCount, before.restartCount);
      // The node still runs pods: a new one starts.
      node.writePod('after-fuzz', { containers: [{ name: 'c', command: ['sleep', 'infinity'] }] });
      await node.waitStatus('after-fuzz', 'Running', (s) => s.phase === 'Running', 30_000);
      process.stdout.write(
        `# fuzz bus: ${cases.length} envelopes, ${rejected} refused, ${sentIds.size} read-only requests: ${ok} answered, ${answered.length - ok} refused\n`,
      );
    } finally {
      bridge.close();
      await poster.terminate();
    }
  });
});
