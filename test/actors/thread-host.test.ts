// The generic thread host: a thread given no runtime opens no CRI channel, one given an endpoint
// or an embedded runtime gets that and only that; a thread that dies unasked is restarted by its
// supervisor, and one that is stopped is not.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Remote } from 'comlink';
import { Bus } from '../../src/bus/index.js';
import { ThreadHost, type ThreadHostOptions, type ThreadPorts } from '../../src/actors/host/thread-host.js';
import { silentLogger } from '../../src/log.js';
import { SimRuntime } from '../../src/sim/runtime.js';
import { waitFor } from '../helpers/cri-fixtures.js';
import type { PortsControl } from './fixtures/ports-thread.js';

type Ports = ReturnType<PortsControl['ports']>;

class PortsHost extends ThreadHost<PortsControl, ThreadPorts> {
  seen: Ports[] = [];
  constructor(runtime: ThreadHostOptions['runtime'], bus: Bus) {
    super({
      script: new URL('./fixtures/ports-thread.js', import.meta.url),
      actor: 'ports',
      what: 'ports thread',
      runtime,
      bus,
      publishes: [],
      logger: silentLogger,
    });
  }
  protected workerData(ports: ThreadPorts): ThreadPorts {
    return ports;
  }
  protected started(control: Remote<PortsControl>): void {
    void control.ports().then((p) => this.seen.push(p));
  }
}

async function portsOf(runtime: ThreadHostOptions['runtime']): Promise<Ports> {
  const bus = new Bus({ name: 'test' });
  const host = new PortsHost(runtime, bus);
  host.start();
  try {
    return await waitFor('the thread to report its ports', () => host.seen[0], 10_000);
  } finally {
    await host.stop();
    bus.close();
  }
}

describe('thread host', () => {
  it('opens a CRI channel only for a thread given a runtime', async () => {
    assert.deepEqual(await portsOf(undefined), { endpoint: null, imageEndpoint: null, criPort: false, events: true });
    assert.deepEqual(await portsOf({ endpoint: 'unix:///run/x.sock', imageEndpoint: 'unix:///run/y.sock' }), {
      endpoint: 'unix:///run/x.sock',
      imageEndpoint: 'unix:///run/y.sock',
      criPort: false,
      events: true,
    });
    const sim = new SimRuntime({ seed: 1 });
    assert.deepEqual(await portsOf({ embedded: sim }), { endpoint: null, imageEndpoint: null, criPort: true, events: true });
  });

  it('restarts a thread that dies unasked, and not one that is stopped', async () => {
    const bus = new Bus({ name: 'test' });
    const host = new PortsHost(undefined, bus);
    host.start();
    await waitFor('the first thread', () => host.seen[0], 10_000);
    const first = host.threadId;
    await host.kill();
    await waitFor('the restarted thread', () => host.seen[1], 10_000);
    assert.equal(host.generation, 2);
    assert.notEqual(host.threadId, first);
    await host.stop();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(host.generation, 2, 'a stopped thread stays stopped');
    assert.equal(host.threadId, undefined);
    bus.close();
  });
});
