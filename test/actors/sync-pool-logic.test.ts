// The sync pool's lanes as pure logic: which lane each task kind takes, the bound of each lane,
// first come first served, a released slot handed to the next waiter, waiters failed on close.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LaneLogic, laneOf } from '../../src/actors/sync-pool/logic.js';
import type { SyncTask } from '../../src/actors/sync-pool/protocol.js';

describe('sync pool lanes', () => {
  it('puts kills and removals in the kill lane, everything else in the sync lane', () => {
    const table: [SyncTask['type'], 'sync' | 'kill'][] = [
      ['sync', 'sync'],
      ['inspect', 'sync'],
      ['gc', 'sync'],
      ['crash', 'sync'],
      ['kill', 'kill'],
      ['remove', 'kill'],
    ];
    for (const [type, lane] of table) assert.equal(laneOf(type), lane, type);
  });

  it('bounds each lane on its own, hands a freed slot to the first waiter, and fails the waiters on close', () => {
    const l = new LaneLogic({ sync: 2, kill: 1 });
    assert.deepEqual(
      [1, 2, 3, 4].map((id) => l.admit('sync', id)),
      ['run', 'run', 'wait', 'wait'],
    );
    assert.equal(l.admit('kill', 5), 'run', 'a full sync lane does not hold a kill');
    assert.equal(l.admit('kill', 6), 'wait');
    assert.deepEqual(l.counts('sync'), { active: 2, queued: 2, limit: 2 });
    assert.equal(l.release('sync'), 3, 'first come first served');
    assert.deepEqual(l.counts('sync'), { active: 2, queued: 1, limit: 2 }, 'the slot passed on, not freed');
    assert.equal(l.release('kill'), 6);
    assert.equal(l.release('kill'), undefined);
    assert.deepEqual(l.counts('kill'), { active: 0, queued: 0, limit: 1 });
    assert.deepEqual(l.close(), [4]);
    assert.equal(l.admit('sync', 7), 'closed');
    assert.equal(l.release('sync'), undefined);
    assert.equal(l.release('sync'), undefined);
    assert.equal(l.counts('sync').active, 0, 'never below zero');
  });
});
