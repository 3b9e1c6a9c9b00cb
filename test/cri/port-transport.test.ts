// CRI over a MessagePort: the embedded runtime served to other threads. The behaviour suite runs
// through it unchanged; a real worker thread drives a pod; garbage on the port stops nothing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SimRuntime } from '../../src/sim/index.js';
import { createCriClient } from '../../src/native/cri/client.js';
import { CriUnavailableError } from '../../src/native/cri/errors.js';
import { MessagePortCriTransport, serveCriOnPort } from '../../src/native/cri/port-transport.js';
import { runtimeBehaviourSuite } from '../helpers/runtime-behaviour.js';

runtimeBehaviourSuite('simulated runtime over a MessagePort', () => {
  const sim = new SimRuntime({ seed: 7 });
  const { port1, port2 } = new MessageChannel();
  const server = serveCriOnPort(sim, port1);
  const cri = createCriClient(new MessagePortCriTransport(port2, 'sim'), { runtimeRequestTimeoutMs: 10_000 });
  const logRoot = mkdtempSync(join(tmpdir(), 'kts-port-'));
  return Promise.resolve({
    cri,
    busybox: 'docker.io/library/busybox:1.35',
    logRoot,
    close: async () => {
      cri.close();
      server.close();
      await sim.close();
      rmSync(logRoot, { recursive: true, force: true });
    },
  });
});

describe('CRI MessagePort transport', () => {
  let sim: SimRuntime;
  let logRoot: string;
  before(() => {
    sim = new SimRuntime({ seed: 3 });
    logRoot = mkdtempSync(join(tmpdir(), 'kts-portw-'));
  });
  after(async () => {
    await sim.close();
    rmSync(logRoot, { recursive: true, force: true });
  });

  it('serves a real worker thread', async () => {
    const { port1, port2 } = new MessageChannel();
    const server = serveCriOnPort(sim, port1);
    const worker = new Worker(fileURLToPath(new URL('../helpers/port-cri-worker.js', import.meta.url)), {
      workerData: { port: port2, logRoot },
      transferList: [port2],
    });
    const result = await new Promise<Record<string, unknown>>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    server.close();
    assert.equal(result['ok'], true, String(result['error']));
    assert.equal(result['state'], 'CONTAINER_RUNNING');
    assert.equal(result['uid'], result['expectedUid']);
    assert.equal(result['notFound'], 'KTS_CRI_NOT_FOUND', 'typed errors survive the thread hop');
    const st = await sim.ContainerStatus({ containerId: String(result['containerId']), verbose: false });
    assert.equal(st.status?.state, 'CONTAINER_RUNNING', 'the pod lives in the serving thread');
  });

  it('drops garbage, answers malformed requests, keeps serving', async () => {
    const { port1, port2 } = new MessageChannel();
    const server = serveCriOnPort(sim, port1);
    const replies: unknown[] = [];
    port2.on('message', (m) => replies.push(m));
    port2.postMessage('hello');
    port2.postMessage({ kts: 'cri', id: 41, rpc: 'NoSuchRpc', bytes: new Uint8Array() });
    port2.postMessage({ kts: 'cri', id: 42, rpc: 'Version', bytes: 'not bytes' });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      replies.map((r) => (r as { id: number; error?: { code: number } }).error?.code),
      [3, 3],
      'INVALID_ARGUMENT for each malformed request with an id',
    );
    port2.removeAllListeners('message');
    const cri = createCriClient(new MessagePortCriTransport(port2, 'sim'));
    assert.equal((await cri.Version({ version: 'v1' })).runtimeName, 'kubelet-ts-sim');
    server.close();
    await assert.rejects(cri.Version({ version: 'v1' }), CriUnavailableError, 'a closed runtime port is Unavailable, not a hang');
    cri.close();
  });
});
