// The status manager's pure parts: the merge patch it sends and the "API already shows it" check
// of the reconcile. (Its writes against a real API server are in test/cluster.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { covers, mergePatch } from '../../src/actors/status-manager.js';

describe('status manager patches', () => {
  it('sends only what changed, nulls what vanished, replaces lists whole', () => {
    const base = { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False' }], containerStatuses: [{ name: 'c', state: { waiting: { reason: 'ContainerCreating' } } }], podIP: undefined };
    const next = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'c', state: { running: { startedAt: 'T' } } }], podIP: '10.1.0.5', startTime: 'T0' };
    assert.deepEqual(mergePatch(base, next), {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ name: 'c', state: { running: { startedAt: 'T' } } }],
      podIP: '10.1.0.5',
      startTime: 'T0',
    });
    assert.deepEqual(mergePatch({ phase: 'Running', message: 'x', nested: { a: 1, b: 2 } }, { phase: 'Running', nested: { a: 1 } }), { message: null, nested: { b: null } });
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
