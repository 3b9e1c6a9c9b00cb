// The status manager's pure parts: the merge patch it sends and the "API already shows it" check
// of the reconcile. (Its writes against a real API server are in test/cluster.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { covers, mergePatch } from '../../src/cluster/status-manager.js';

describe('status manager patches', () => {
  it('sends only what changed, nulls what vanished, replaces lists whole', () => {
    const base = {
      phase: 'Pending',
      conditions: [{ type: 'Ready', status: 'False' }],
      containerStatuses: [{ name: 'c', state: { waiting: { reason: 'ContainerCreating' } } }],
      podIP: undefined,
    };
    const next = {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ name: 'c', state: { running: { startedAt: 'T' } } }],
      podIP: '10.1.0.5',
      startTime: 'T0',
    };
    assert.deepEqual(mergePatch(base, next), {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ name: 'c', state: { running: { startedAt: 'T' } } }],
      podIP: '10.1.0.5',
      startTime: 'T0',
    });
    assert.deepEqual(mergePatch({ phase: 'Running', message: 'x', nested: { a: 1, b: 2 } }, { phase: 'Running', nested: { a: 1 } }), {
      message: null,
      nested: { b: null },
    });
    assert.deepEqual(mergePatch(next, structuredClone(next)), {});
  });

  it('covers: the API status holds everything ours says (extra server fields are fine)', () => {
    const ours = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
    assert.equal(covers({ phase: 'Running', qosClass: 'BestEffort', conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null }] }, ours), true);
    assert.equal(covers({ phase: 'Pending', conditions: [{ type: 'Ready', status: 'True' }] }, ours), false);
    assert.equal(covers({ phase: 'Running', conditions: [] }, ours), false);
    assert.equal(covers(undefined, ours), false);
  });
});

describe('status manager writes', () => {
  it('coalesces: a pod whose status changed many times while a write was in flight gets one more write, with the latest', async () => {
    const { createServer } = await import('node:http');
    const { StatusManager } = await import('../../src/cluster/status-manager.js');
    const { ApiClient } = await import('../../src/api/client.js');
    const bodies: { uid: string; phase: unknown; n: unknown }[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        const b = JSON.parse(text) as { metadata: { uid: string }; status: { phase?: string; message?: string } };
        bodies.push({ uid: b.metadata.uid, phase: b.status.phase, n: b.status.message });
        const answer = (): void =>
          void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ metadata: { uid: b.metadata.uid }, status: b.status }));
        if (bodies.length === 1) void gate.then(answer);
        else answer();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const client = new ApiClient({ server: `http://127.0.0.1:${port}` }, { qps: 0, burst: 0 });
    const sm = new StatusManager({ client });
    const target = { namespace: 'default', name: 'p', uid: 'u1' };
    sm.setStatus(target, { phase: 'Pending', message: '0' });
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 1; i <= 100; i++) sm.setStatus(target, { phase: 'Running', message: String(i) });
    release();
    for (let i = 0; i < 100 && sm.pending > 0; i++) await new Promise((r) => setTimeout(r, 10));
    client.close();
    server.close();
    assert.deepEqual(bodies, [
      { uid: 'u1', phase: 'Pending', n: '0' },
      { uid: 'u1', phase: 'Running', n: '100' },
    ]);
    assert.equal(sm.stats.writes, 2);
  });
});

describe('status manager and conditions set by others', () => {
  it('keeps conditions the kubelet does not own (readiness gates) in what it writes and checks', async () => {
    const { withForeignConditions } = await import('../../src/cluster/status-manager.js');
    const ours = { phase: 'Running' as const, conditions: [{ type: 'Ready', status: 'True' as const }] };
    const api = {
      phase: 'Running' as const,
      conditions: [
        { type: 'Ready', status: 'False' as const },
        { type: 'example.com/gate', status: 'True' as const },
      ],
    };
    const merged = withForeignConditions(ours, api);
    assert.deepEqual(
      merged.conditions?.map((c) => `${c.type}=${c.status}`),
      ['Ready=True', 'example.com/gate=True'],
    );
    assert.equal(
      covers(
        {
          ...api,
          conditions: [
            { type: 'Ready', status: 'True' },
            { type: 'example.com/gate', status: 'True' },
          ],
        },
        merged,
      ),
      true,
    );
  });
});
