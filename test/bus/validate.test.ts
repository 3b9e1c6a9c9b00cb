// Envelopes from other threads or bridges are checked before anything reads them: garbage is
// refused with a clear error and a stable reason, counted in kubelet_ts_bus_rejected_total,
// logged, never delivered, and never breaks the bus.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { Bus, BusError, checkEnvelope, type RejectReason } from '../../src/bus/index.js';
import { captureLogger, metric, settle, upd } from './helpers.js';

const env = (topic: string, msg: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  v: 1,
  id: 'x1',
  topic,
  source: 'w',
  ts: 1,
  msg,
  ...extra,
});

const garbage: [unknown, RejectReason][] = [
  [null, 'not-object'],
  ['garbage', 'not-object'],
  [[1, 2], 'not-object'],
  [{ ...env('pod.update', upd('a')), v: 2 }, 'version'],
  [{ ...env('pod.update', upd('a')), id: '' }, 'id'],
  [{ ...env('pod.update', upd('a')), topic: 7 }, 'topic'],
  [env('no.such.topic', { type: 'x' }), 'unknown-topic'],
  [{ ...env('pod.update', upd('a')), source: undefined }, 'source'],
  [{ ...env('pod.update', upd('a')), ts: Number.NaN }, 'ts'],
  [env('pod.update', upd('a'), { corr: 5 }), 'corr'],
  [env('pod.update', 'not an object'), 'message'],
  [env('pod.update', {}), 'message-type'],
  [env('pod.update', { type: 'explode', pod: {}, source: 'f' }), 'message-type'],
  [env('pod.update', { type: 'update', source: 'f' }), 'message-field'],
  [env('pod.update', { type: 'update', pod: { spec: {} }, source: 'f' }), 'message-field'],
  [env('pod.update', { type: 'remove', pod: { metadata: {} }, source: 'f', gracePeriodSeconds: 'soon' }), 'message-field'],
  [env('actor.health', { type: 'health', actor: 'pleg' }), 'message-field'],
  [env('actor.health', { type: 'toString', actor: 'pleg', ok: true }), 'message-type'],
  [env('_reply', { ok: true }), 'corr'],
  [env('_reply', { ok: false, error: 'text' }, { corr: 'r' }), 'message'],
  [env('_req.x', { timeoutMs: 5 }), 'message'],
];

describe('bus envelope validation', () => {
  it('refuses each kind of garbage with its reason; counts and logs it; delivers only the valid one', async () => {
    const registry = new Registry();
    const { logger, lines } = captureLogger();
    const bus = new Bus({ name: 't', registry, logger });
    const handle = bus.bridge({ name: 'test', outbound: () => undefined });
    const got: unknown[] = [];
    bus.subscribe('pod.update', (m) => void got.push(m));
    bus.subscribe('actor.health', (m) => void got.push(m));
    for (const [junk, reason] of garbage) {
      const r = handle.inject(junk);
      assert.equal(r.type, 'rejected', JSON.stringify(junk));
      if (r.type === 'rejected') {
        assert.ok(r.error instanceof BusError);
        assert.equal(r.error.code, 'KTS_BUS_INVALID_ENVELOPE');
        assert.equal(r.error.reason, reason, `${JSON.stringify(junk)}: ${r.error.message}`);
      }
    }
    assert.deepEqual(handle.inject(env('pod.update', upd('fine'))), { type: 'accepted' });
    assert.deepEqual(handle.inject(env('actor.health', { type: 'health', actor: 'pleg', ok: true })), { type: 'accepted' });
    await settle();
    assert.equal(got.length, 2);
    assert.equal(await metric(registry, 'kubelet_ts_bus_rejected_total'), garbage.length);
    assert.equal(await metric(registry, 'kubelet_ts_bus_rejected_total', { reason: 'message-field' }), 4);
    assert.equal(await metric(registry, 'kubelet_ts_bus_inbound_total', { topic: 'pod.update' }), 1);
    const warned = lines.filter((l) => l['msg'] === 'refused a malformed bus envelope');
    assert.ok(warned.length >= 10 && warned.length <= garbage.length, `logged (${warned.length}), at a bounded rate`);
    assert.ok(warned.some((l) => l['reason'] === 'unknown-topic' && String(l['detail']).includes('no.such.topic')));
    bus.close();
  });

  it('gives readable errors', () => {
    const v = checkEnvelope(env('pod.worker', { type: 'gone', uid: 'u', namespace: 'n' }));
    assert.deepEqual(v, { type: 'invalid', reason: 'message-field', detail: 'topic pod.worker, type gone: field "name" must be a string, got nothing' });
    const t = checkEnvelope(env('pod.worker', { type: 'Boom' }));
    assert.equal(t.type === 'invalid' && t.detail, 'topic pod.worker: unknown message type "Boom" (known: terminated, gone)');
  });

  it('accepts every message shape the kubelet publishes', () => {
    const ok: [string, unknown][] = [
      ['pod.update', { type: 'remove', pod: { metadata: { uid: 'u' } }, source: 'file', gracePeriodSeconds: 30 }],
      ['pod.worker', { type: 'terminated', uid: 'u', namespace: 'n', name: 'p', status: { phase: 'Succeeded' } }],
      ['pod.worker', { type: 'gone', uid: 'u', namespace: 'n', name: 'p' }],
      ['pod.state', { type: 'gone', uid: 'u', events: [] }],
      ['pleg.relist', { type: 'relist', ok: true, durationMs: 3, intervalMs: 1000, pods: 4, at: 5 }],
      ['pleg.relist', { type: 'mode', evented: true, at: 5 }],
      ['pod.status', { type: 'status', uid: 'u', namespace: 'd', name: 'n', status: { phase: 'Running' } }],
      ['probe.result', { type: 'result', podUid: 'u', containerName: 'app', containerId: 'c', probe: 'readiness', result: 'success', at: 1 }],
      ['actor.health', { type: 'health', actor: 'pleg', ok: true }],
      ['_reply', { ok: false, noResponder: true, from: 'w' }],
      ['_req.x', { req: undefined, timeoutMs: 5 }],
    ];
    for (const [topic, msg] of ok) assert.equal(checkEnvelope(env(topic, msg, { corr: 'c' })).type, 'valid', topic);
  });

  it('property: any value injected is refused or delivered, never thrown, and the bus keeps working', async () => {
    const registry = new Registry();
    const bus = new Bus({ name: 't', registry });
    const handle = bus.bridge({ outbound: () => undefined });
    let delivered = 0;
    bus.subscribe('actor.health', () => void delivered++, { capacity: 100_000 });
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record({
            v: fc.constant(1),
            id: fc.string(),
            topic: fc.constantFrom('actor.health', 'pod.update', '_reply', '_req.x', 'x'),
            source: fc.string(),
            ts: fc.double(),
            corr: fc.anything(),
            msg: fc.anything(),
          }),
        ),
        (junk) => {
          if (handle.inject(junk).type === 'accepted') accepted++;
        },
      ),
      { numRuns: 500 },
    );
    bus.publish('actor.health', { type: 'health', actor: 'still', ok: true });
    await settle(20);
    assert.ok(delivered >= 1);
    assert.equal(accepted + (await metric(registry, 'kubelet_ts_bus_rejected_total')), 500);
    bus.close();
  });
});
