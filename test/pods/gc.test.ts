// Container GC planning: dead containers beyond the limit per container name, old dead sandboxes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planGarbageCollection } from '../../src/pods/gc.js';
import type { PodRuntimeState, RuntimeContainer } from '../../src/pods/runtime-state.js';

const c = (id: string, name: string, state: RuntimeContainer['state'], createdAt: number): RuntimeContainer => ({
  id,
  runtime: 'x',
  name,
  sandboxId: 's',
  attempt: createdAt,
  restartCount: createdAt,
  hash: '',
  state,
  createdAt,
  startedAt: 0,
  finishedAt: 0,
  exitCode: 0,
  reason: '',
  message: '',
  image: '',
  imageRef: '',
});

describe('container GC plan', () => {
  it('keeps the newest dead container per name, never a running one, and the newest sandbox', () => {
    const state: PodRuntimeState = {
      uid: 'u',
      name: 'p',
      namespace: 'n',
      sandboxes: [
        { id: 's3', attempt: 2, ready: true, createdAt: 3, ips: [], hostNetwork: false },
        { id: 's2', attempt: 1, ready: false, createdAt: 2, ips: [], hostNetwork: false },
        { id: 's1', attempt: 0, ready: false, createdAt: 1, ips: [], hostNetwork: false },
      ],
      containers: [
        c('a4', 'a', 'running', 4),
        c('a3', 'a', 'exited', 3),
        c('a2', 'a', 'exited', 2),
        c('a1', 'a', 'unknown', 1),
        c('b2', 'b', 'exited', 2),
        c('b1', 'b', 'exited', 1),
      ],
    };
    assert.deepEqual(planGarbageCollection(state, 1), { containers: ['a2', 'a1', 'b1'], sandboxes: ['s2', 's1'] });
    assert.deepEqual(planGarbageCollection(state, 0).containers, ['a3', 'a2', 'a1', 'b2', 'b1']);
    const done: PodRuntimeState = { ...state, sandboxes: [{ id: 's1', attempt: 0, ready: false, createdAt: 1, ips: [], hostNetwork: false }] };
    assert.deepEqual(planGarbageCollection(done, 1).sandboxes, [], 'the newest sandbox stays even when not ready');
  });
});
