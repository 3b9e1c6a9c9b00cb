// A thread's bridge lets into the main bus only the topics that thread publishes, and a runtime
// state is checked whole before the pod workers keep it (issue 16: a forged pod.state with no
// `sandboxes` passed the shallow check and threw from housekeeping's timer two seconds later,
// which takes the process down; a thread could post pod.update, i.e. desired pods).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { Bus, checkEnvelope, connectPort } from '../../src/bus/index.js';
import { captureLogger, metric, settle } from './helpers.js';

const env = (topic: string, msg: unknown): Record<string, unknown> => ({ v: 1, id: `id-${Math.random()}`, topic, source: 'pleg', ts: 1, msg });
const container = {
  id: 'c1',
  runtime: 'sim',
  name: 'c',
  sandboxId: 's1',
  attempt: 0,
  restartCount: 0,
  hash: 'h',
  state: 'running',
  createdAt: 1,
  startedAt: 1,
  finishedAt: 0,
  exitCode: 0,
  reason: '',
  message: '',
  image: 'i',
  imageRef: 'r',
};
const sandbox = { id: 's1', attempt: 0, ready: true, createdAt: 1, ips: ['10.0.0.1'], hostNetwork: false };
const state = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  uid: 'u1',
  name: 'p',
  namespace: 'default',
  sandboxes: [sandbox],
  containers: [container],
  ...over,
});

describe('thread bridges and runtime states', () => {
  it('checks a runtime state whole: shape, enums, the uid it claims', () => {
    const ok = checkEnvelope(
      env('pod.state', { type: 'state', uid: 'u1', state: state(), events: [{ type: 'ContainerStarted', podUid: 'u1', containerId: 'c1' }] }),
    );
    assert.equal(ok.type, 'valid');
    const bad: [Record<string, unknown>, RegExp][] = [
      [state({ sandboxes: undefined }), /state.sandboxes must be a array/],
      [state({ containers: [{ ...container, state: 'dancing' }] }), /state.containers\[0\].state is not a container state/],
      [state({ containers: [{ ...container, startedAt: 'soon' }] }), /state.containers\[0\].startedAt must be a number/],
      [state({ sandboxes: [{ ...sandbox, ips: [1] }] }), /ips must be strings/],
      [state({ uid: 'other' }), /state.uid must be the message uid/],
      [state({ source: 'forged' }), /state.source/],
    ];
    for (const [s, why] of bad) {
      const v = checkEnvelope(env('pod.state', { type: 'state', uid: 'u1', state: s, events: [] }));
      assert.ok(v.type === 'invalid' && v.reason === 'message-field' && why.test(v.detail), JSON.stringify(v));
    }
    const ev = checkEnvelope(env('pod.state', { type: 'gone', uid: 'u1', events: [{ type: 'Boom', podUid: 'u1', containerId: 'c' }] }));
    assert.ok(ev.type === 'invalid' && /not a PLEG event/.test(ev.detail));
    const probe = checkEnvelope(
      env('probe.result', { type: 'result', podUid: 'u', containerName: 'c', containerId: 'x', probe: 'gut-feeling', result: 'success', at: 1 }),
    );
    assert.ok(probe.type === 'invalid' && /probe must be one of/.test(probe.detail));
  });

  it('a bridge with an inbound list refuses and counts the other topics', async () => {
    const registry = new Registry();
    const { logger } = captureLogger();
    const bus = new Bus({ name: 'main', registry, logger });
    const { port1, port2 } = new MessageChannel();
    const bridge = connectPort(bus, port1, { name: 'pleg', topics: [], inbound: ['pod.state'] });
    const updates: unknown[] = [];
    const states: unknown[] = [];
    bus.subscribe('pod.update', (m) => void updates.push(m));
    bus.subscribe('pod.state', (m) => void states.push(m));
    port2.postMessage(env('pod.update', { type: 'add', pod: { metadata: { name: 'x' }, spec: {} }, source: 'file' }));
    port2.postMessage(env('pod.state', { type: 'gone', uid: 'u1', events: [] }));
    await settle(50);
    assert.equal(updates.length, 0);
    assert.equal(states.length, 1);
    assert.equal(await metric(registry, 'kubelet_ts_bus_rejected_total', { reason: 'topic-not-allowed' }), 1);
    bridge.close();
    port2.close();
    bus.close();
  });
});
