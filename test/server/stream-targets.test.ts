// Resolving a stream request to a CRI ID from the kubelet's runtime view: the newest running
// container of that name, the newest ready sandbox; the UID only picks between instances with
// the same name; clear 404/400 answers otherwise.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PodRuntimeState, RuntimeContainer } from '../../src/pods/runtime-state.js';
import { resolveContainerIn, resolveSandboxIn } from '../../src/server/stream-targets.js';

const container = (id: string, name: string, state: RuntimeContainer['state'], createdAt: number): RuntimeContainer => ({
  id,
  runtime: 'containerd',
  name,
  sandboxId: 's',
  attempt: 0,
  restartCount: 0,
  hash: '',
  state,
  createdAt,
  startedAt: 0,
  finishedAt: 0,
  exitCode: 0,
  reason: '',
  message: '',
  image: 'i',
  imageRef: 'i',
});

const pod = (uid: string, containers: RuntimeContainer[], sandboxes: PodRuntimeState['sandboxes'] = []): PodRuntimeState => ({
  uid,
  name: 'web',
  namespace: 'default',
  containers,
  sandboxes,
});

describe('stream targets', () => {
  const states = [
    pod('old', [container('c-old', 'app', 'running', 5)], [{ id: 's-old', attempt: 0, ready: true, createdAt: 5, ips: [], hostNetwork: false }]),
    pod(
      'new',
      [container('c1', 'app', 'exited', 10), container('c2', 'app', 'running', 20), container('c3', 'side', 'exited', 30)],
      [
        { id: 's1', attempt: 0, ready: false, createdAt: 10, ips: [], hostNetwork: false },
        { id: 's2', attempt: 1, ready: true, createdAt: 20, ips: [], hostNetwork: false },
      ],
    ),
  ];

  it('finds the newest running container, preferring the instance with the UID', () => {
    assert.deepEqual(resolveContainerIn(states, 'default', 'web', undefined, 'app'), { id: 'c2' });
    assert.deepEqual(resolveContainerIn(states, 'default', 'web', 'old', 'app'), { id: 'c-old' });
    assert.deepEqual(resolveContainerIn(states, 'default', 'web', 'mirror-uid', 'app'), { id: 'c2' }, 'an unknown UID falls back to the name');
  });

  it('says why there is none', () => {
    assert.deepEqual(resolveContainerIn(states, 'default', 'web', undefined, 'side'), { error: 'container "side" in pod "web" is not running', status: 400 });
    assert.deepEqual(resolveContainerIn(states, 'default', 'web', undefined, 'nope'), { error: 'container "nope" not found in pod default/web', status: 404 });
    assert.deepEqual(resolveContainerIn(states, 'kube-system', 'web', undefined, 'app'), { error: 'pod kube-system/web not found on this node', status: 404 });
  });

  it('finds the newest ready sandbox', () => {
    assert.deepEqual(resolveSandboxIn(states, 'default', 'web', undefined), { id: 's2' });
    assert.deepEqual(resolveSandboxIn(states, 'default', 'web', 'old'), { id: 's-old' });
    assert.deepEqual(
      resolveSandboxIn([pod('x', [], [{ id: 's', attempt: 0, ready: false, createdAt: 1, ips: [], hostNetwork: false }])], 'default', 'web', undefined),
      { error: 'pod default/web has no running sandbox', status: 400 },
    );
    assert.equal((resolveSandboxIn([], 'default', 'web', undefined) as { status: number }).status, 404);
  });
});
