// The bus's commands (src/bus/requests.ts): every request has a schema, a body is checked
// before a handler sees it (table below), and serve/call carry typed bodies and replies across
// a port bridge, refusing a wrong body with KTS_BUS_INVALID_REQUEST.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { Bus, BusError, REQUESTS, REQUEST_SCHEMA, connectPort, isRequestName, requestProblem, type RequestName } from '../../src/bus/index.js';

const probe = {
  kind: 'liveness',
  handler: { type: 'tcpSocket', host: '127.0.0.1', port: 80 },
  timing: { initialDelayMs: 0, periodMs: 1000, timeoutMs: 1000, successThreshold: 1, failureThreshold: 3 },
};
const target = { uid: 'u', name: 'n', namespace: 'default', containers: [{ name: 'c', containerId: 'id', startedAt: 0, probes: [probe] }] };

describe('request bodies', () => {
  const table: [RequestName, unknown, RegExp | undefined][] = [
    ['pleg.relist', {}, undefined],
    ['pleg.relist', { now: true }, /pleg.relist.now is not a field of this request/],
    ['pleg.relist', [], /must be an object/],
    ['pleg.relist', null, /must be an object/],
    ['pleg.configure', {}, undefined],
    ['pleg.configure', { relistPeriodMs: 500 }, undefined],
    ['pleg.configure', { relistPeriodMs: 0 }, /relistPeriodMs must be a number above 0/],
    ['pleg.configure', { relistPeriodMs: Number.NaN }, /must be absent or a number/],
    ['pleg.health', { thresholdMs: 1000 }, undefined],
    ['pleg.health', { thresholdMs: -5 }, /thresholdMs must be a number above 0/],
    ['probes.set-pod', { target }, undefined],
    ['probes.set-pod', {}, /target must be a object/],
    ['probes.set-pod', { target: { ...target, uid: '' } }, /target.uid must not be empty/],
    [
      'probes.set-pod',
      { target: { ...target, containers: [{ name: 'c', containerId: 'id', startedAt: 'now', probes: [] }] } },
      /containers\[0\]\.startedAt must be a number/,
    ],
    [
      'probes.set-pod',
      { target: { ...target, containers: [{ name: 'c', containerId: 'id', startedAt: 0, probes: [{ ...probe, kind: 'always' }] }] } },
      /kind must be one of liveness, readiness, startup/,
    ],
    ['probes.set-pod', { target: { ...target, containers: [{ name: 'c', containerId: 'id', startedAt: 0, probes: ['x'] }] } }, /probes\[0\] must be an object/],
    ['probes.set-pods', { targets: [target, target] }, undefined],
    ['probes.set-pods', { targets: [target, { ...target, containers: 'none' }] }, /targets\[1\]\.containers must be a array/],
    ['probes.remove-pod', { uid: 'u' }, undefined],
    ['probes.remove-pod', { uid: '' }, /uid must not be empty/],
    ['probes.remove-pod', { uid: 7 }, /uid must be a string/],
    ['pods.describe', { uid: 'u' }, undefined],
    ['pods.list', {}, undefined],
    ['sync-pool.stats', {}, undefined],
    ['actors.health', {}, undefined],
  ];
  for (const [name, body, want] of table) {
    it(`${name} ${JSON.stringify(body)}: ${want ? `refused (${want.source})` : 'taken'}`, () => {
      const got = requestProblem(name, body);
      if (want === undefined) assert.equal(got, undefined);
      else assert.match(got ?? '(taken)', want);
    });
  }

  it('every request is named and has a schema; unknown names are not requests', () => {
    assert.deepEqual([...REQUESTS].sort(), Object.keys(REQUEST_SCHEMA).sort());
    for (const name of REQUESTS) assert.ok(isRequestName(name));
    assert.equal(isRequestName('toString'), false);
    assert.equal(isRequestName('pleg.kill'), false);
  });
});

describe('serve and call across a port bridge', () => {
  it('carries a typed request and its reply, and refuses a wrong body before the handler', async () => {
    const a = new Bus({ name: 'a' });
    const b = new Bus({ name: 'b' });
    const { port1, port2 } = new MessageChannel();
    const bridges = [connectPort(a, port1), connectPort(b, port2)];
    let seen = 0;
    b.serve('pleg.configure', (req) => {
      seen++;
      return { relistPeriodMs: req.relistPeriodMs ?? 1000 };
    });
    try {
      assert.deepEqual(await a.call('pleg.configure', { relistPeriodMs: 300 }), { relistPeriodMs: 300 });
      await assert.rejects(
        a.request('pleg.configure', { relistPeriodMs: -300 }),
        (err: unknown) => err instanceof BusError && err.code === 'KTS_BUS_REMOTE' && err.remoteCode === 'KTS_BUS_INVALID_REQUEST',
      );
      assert.equal(seen, 1, 'the handler never saw the refused body');
      await assert.rejects(a.call('pleg.stats', {}), (err: unknown) => err instanceof BusError && err.code === 'KTS_BUS_NO_RESPONDER');
    } finally {
      for (const x of bridges) x.close();
      a.close();
      b.close();
    }
  });
});
