// The pod-spec test node itself, on real containerd: a pod runs, a command runs in it, and the
// kubelet's pod events reach the test through the bus.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startStaticNode, type StaticNode } from '../helpers/static-node.js';

describe('static test node on containerd', () => {
  let node: StaticNode;
  before(async () => {
    node = await startStaticNode({ runtime: 'containerd' });
  });
  after(async () => {
    await node?.close();
  });

  it('runs a pod, execs in it, and publishes its events', async () => {
    node.writePod('hello', { containers: [{ name: 'c', command: ['sh', '-c', 'echo hi > /tmp/x; sleep 3600'] }] });
    await node.waitStatus('hello', 'Running', (s) => s.phase === 'Running' && s.containerStatuses?.[0]?.ready === true);
    const r = await node.exec('hello', 'c', ['cat', '/tmp/x']);
    assert.equal(r.stdout, 'hi\n');
    const failed = await node.exec('hello', 'c', ['sh', '-c', 'exit 3'], { allowFail: true });
    assert.equal(failed.exitCode, 3);
    assert.deepEqual(
      node
        .eventsOf('hello')
        .map((e) => e.reason)
        .filter((r) => r !== 'Pulled'),
      ['Created', 'Started'],
    );
    assert.equal(node.eventsOf('hello', 'Started')[0]?.container, 'c');
  });
});
