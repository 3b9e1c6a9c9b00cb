// GetContainerEvents, the one streaming RPC: the simulated runtime's events over every transport
// (in-process, MessagePort, gRPC on a unix socket), in order and with the statuses they carry;
// Unimplemented from a runtime without a stream (as containerd 1.6 answers); a stream ended by
// a closing server; garbage on the port stops nothing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimRuntime, createSimClient, startSimRuntimeServer } from '../../src/sim/index.js';
import { createCriClient, type CriClient } from '../../src/native/cri/client.js';
import { connectCri } from '../../src/native/cri/index.js';
import { MessagePortCriTransport, serveCriOnPort } from '../../src/native/cri/port-transport.js';
import { InProcessCriTransport } from '../../src/native/cri/in-process-transport.js';
import { serveCri } from '../../src/native/cri/server.js';
import type { ContainerEvent } from '../../src/native/cri/api.js';
import { CriUnimplementedError } from '../../src/native/cri/errors.js';
import { containerConfig, newPod, sandboxConfig, waitFor, withoutEvents } from '../helpers/cri-fixtures.js';

const BUSYBOX = 'docker.io/library/busybox:1.35';

interface Transport {
  name: string;
  open: (sim: SimRuntime, dir: string) => Promise<{ cri: CriClient; close: () => Promise<void> }>;
  openBare: (sim: SimRuntime, dir: string) => Promise<{ cri: CriClient; close: () => Promise<void> }>;
}

const transports: Transport[] = [
  {
    name: 'in-process',
    open: (sim) => Promise.resolve({ cri: createSimClient(sim), close: () => Promise.resolve() }),
    openBare: (sim) => Promise.resolve({ cri: createCriClient(new InProcessCriTransport(withoutEvents(sim))), close: () => Promise.resolve() }),
  },
  {
    name: 'MessagePort',
    open: (sim) => {
      const { port1, port2 } = new MessageChannel();
      const server = serveCriOnPort(sim, port1);
      const cri = createCriClient(new MessagePortCriTransport(port2, 'sim'));
      return Promise.resolve({ cri, close: () => Promise.resolve(server.close()) });
    },
    openBare: (sim) => {
      const { port1, port2 } = new MessageChannel();
      const server = serveCriOnPort(withoutEvents(sim), port1);
      const cri = createCriClient(new MessagePortCriTransport(port2, 'bare'));
      return Promise.resolve({ cri, close: () => Promise.resolve(server.close()) });
    },
  },
  {
    name: 'gRPC unix socket',
    open: async (sim, dir) => {
      const server = await startSimRuntimeServer({ listen: `unix://${join(dir, 'sim.sock')}`, runtime: sim });
      const cri = connectCri(server.endpoint);
      return {
        cri,
        close: async () => {
          cri.close();
          await server.close();
        },
      };
    },
    openBare: async (sim, dir) => {
      const server = await serveCri(withoutEvents(sim), { listen: `unix://${join(dir, 'bare.sock')}` });
      const cri = connectCri(server.endpoint);
      return {
        cri,
        close: async () => {
          cri.close();
          await server.close();
        },
      };
    },
  },
];

for (const t of transports) {
  describe(`GetContainerEvents over ${t.name}`, () => {
    let sim: SimRuntime;
    let dir: string;
    before(() => {
      sim = new SimRuntime({ seed: 11 });
      dir = mkdtempSync(join(tmpdir(), 'kts-events-'));
    });
    after(async () => {
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("streams a pod's life in order, each event with its sandbox and container statuses", async () => {
      const { cri, close } = await t.open(sim, dir);
      const got: ContainerEvent[] = [];
      let ended: Error | undefined | null = null;
      const sub = cri.GetContainerEvents({ event: (e) => void got.push(e), end: (err) => (ended = err) });
      // The stream is open once the runtime counts the subscription (a socket needs a moment).
      await waitFor('subscribed', () => ((sim.stats().calls.GetContainerEvents ?? 0) > 0 ? true : undefined), 5000, 10);
      const pod = newPod('events');
      const config = sandboxConfig(pod, dir);
      const { podSandboxId } = await cri.RunPodSandbox({ config });
      const { containerId } = await cri.CreateContainer({
        podSandboxId,
        config: containerConfig(pod, 'app', BUSYBOX, ['sleep', '3600']),
        sandboxConfig: config,
      });
      await cri.StartContainer({ containerId });
      await cri.StopContainer({ containerId, timeout: 0 });
      await cri.RemoveContainer({ containerId });
      await cri.StopPodSandbox({ podSandboxId });
      await cri.RemovePodSandbox({ podSandboxId });
      await waitFor('all 8 events', () => (got.length >= 8 ? true : undefined), 5000, 10);
      assert.deepEqual(
        got.map((e) => `${e.containerId === podSandboxId ? 'sandbox' : e.containerId === containerId ? 'app' : e.containerId}:${e.containerEventType}`),
        [
          'sandbox:CONTAINER_CREATED_EVENT',
          'sandbox:CONTAINER_STARTED_EVENT',
          'app:CONTAINER_CREATED_EVENT',
          'app:CONTAINER_STARTED_EVENT',
          'app:CONTAINER_STOPPED_EVENT',
          'app:CONTAINER_DELETED_EVENT',
          'sandbox:CONTAINER_STOPPED_EVENT',
          'sandbox:CONTAINER_DELETED_EVENT',
        ],
      );
      const stopped = got[4];
      assert.equal(stopped?.podSandboxStatus?.id, podSandboxId);
      assert.equal(stopped?.podSandboxStatus?.labels['io.kubernetes.pod.uid'], pod.uid);
      assert.equal(stopped?.podSandboxStatus?.state, 'SANDBOX_READY');
      assert.equal(stopped?.containersStatuses.length, 1);
      assert.equal(stopped?.containersStatuses[0]?.state, 'CONTAINER_EXITED');
      assert.equal(stopped?.containersStatuses[0]?.exitCode, 137, 'the exit code is set when the event is sent');
      assert.ok((stopped?.createdAt ?? 0) > Date.UTC(2020, 0) * 1e6, 'created_at is wall-clock nanoseconds');
      assert.equal(got[3]?.containersStatuses[0]?.state, 'CONTAINER_RUNNING');
      assert.equal(got[5]?.containersStatuses.length, 0, 'the deleted container is no longer among the statuses');
      assert.equal(got[6]?.podSandboxStatus?.state, 'SANDBOX_NOTREADY');
      assert.equal(got[7]?.podSandboxStatus, null, 'a deleted sandbox has no status');
      sub.cancel();
      assert.equal(ended, undefined, 'cancel ends the stream without an error');
      const n = got.length;
      await cri.RunPodSandbox({ config: sandboxConfig(newPod('after'), dir) });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(got.length, n, 'no event after cancel');
      await close();
    });

    it('ends at once with Unimplemented when the runtime has no event stream', async () => {
      const { cri, close } = await t.openBare(sim, dir);
      const err = await new Promise<Error | undefined>((resolve) => {
        cri.GetContainerEvents({ event: () => assert.fail('no event expected'), end: resolve });
      });
      assert.ok(err instanceof CriUnimplementedError, `got ${String(err)}`);
      assert.equal(err.operation, 'get_container_events');
      // Unary calls on the same connection still work.
      assert.equal((await cri.Version({ version: 'v1' })).runtimeName, 'kubelet-ts-sim');
      await close();
    });
  });
}

describe('GetContainerEvents: failures', () => {
  it('a closing gRPC server ends the stream with an error the client sees', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-events-end-'));
    const sim = new SimRuntime({ seed: 12 });
    const server = await startSimRuntimeServer({ listen: `unix://${join(dir, 'sim.sock')}`, runtime: sim });
    const cri = connectCri(server.endpoint);
    const ended = new Promise<Error | undefined>((resolve) => cri.GetContainerEvents({ event: () => undefined, end: resolve }));
    await waitFor('subscribed', () => ((sim.stats().calls.GetContainerEvents ?? 0) > 0 ? true : undefined), 5000, 10);
    await server.close();
    const err = await ended;
    assert.ok(err instanceof Error, 'the stream ended with an error');
    assert.match(err.message, /get_container_events/);
    cri.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('garbage stream messages on the port stop neither the server nor the stream', async () => {
    const sim = new SimRuntime({ seed: 13 });
    const { port1, port2 } = new MessageChannel();
    const server = serveCriOnPort(sim, port1);
    const cri = createCriClient(new MessagePortCriTransport(port2, 'sim'));
    const got: ContainerEvent[] = [];
    cri.GetContainerEvents({ event: (e) => void got.push(e), end: () => undefined });
    for (const junk of [
      { kts: 'cri-events' },
      { kts: 'cri-events', id: 'x', op: 'open' },
      { kts: 'cri-events', id: 99, op: 'explode' },
      { kts: 'cri-event', id: 1, bytes: 'nope' },
    ])
      port1.postMessage(junk);
    const dir = mkdtempSync(join(tmpdir(), 'kts-events-junk-'));
    await cri.RunPodSandbox({ config: sandboxConfig(newPod('junk'), dir) });
    await waitFor('events still flow', () => (got.length >= 2 ? true : undefined), 5000, 10);
    cri.close();
    server.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
