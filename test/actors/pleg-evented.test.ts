// The evented PLEG on its real thread: pod states from the runtime's event stream with no relist
// due (so nothing else could have produced them), the fallback to relisting for a runtime
// without a stream, and a broken stream reopened once the runtime is back.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimRuntime, createSimClient, startSimRuntimeServer } from '../../src/sim/index.js';
import { PlegActor } from '../../src/actors/pleg/handle.js';
import { Bus, type MessageOf } from '../../src/bus/index.js';
import type { ContainerEventReply } from '../../src/native/cri/api.js';
import { containerConfig, newPod, sandboxConfig, waitFor, withoutEvents } from '../helpers/cri-fixtures.js';

const BUSYBOX = 'docker.io/library/busybox:1.35';

function collect(bus: Bus): { states: MessageOf<'pod.state'>[]; modes: MessageOf<'pleg.relist'>[]; relists: () => number } {
  const states: MessageOf<'pod.state'>[] = [];
  const modes: MessageOf<'pleg.relist'>[] = [];
  let relists = 0;
  bus.subscribe('pod.state', (m) => void states.push(m));
  bus.subscribe('pleg.relist', (m) => {
    if (m.type === 'mode') modes.push(m);
    else relists++;
  });
  return { states, modes, relists: () => relists };
}

describe('evented PLEG', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kts-evented-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('posts states from events, with no relist due, and stays healthy for 10 minutes', async () => {
    const sim = new SimRuntime({ seed: 21 });
    const bus = new Bus({ name: 'test' });
    const seen = collect(bus);
    // Relists far apart: after the first one, anything seen came from the event stream.
    const pleg = new PlegActor({ runtime: { embedded: sim, name: 'sim' }, relistPeriodMs: 120_000, eventedRelistPeriodMs: 600_000, bus });
    pleg.start();
    await waitFor('first relist', () => (seen.relists() >= 1 ? true : undefined), 10_000);
    await waitFor('evented mode', () => (pleg.followsEvents ? true : undefined), 10_000);
    const cri = createSimClient(sim);
    const pod = newPod('evented');
    const config = sandboxConfig(pod, dir);
    const { podSandboxId } = await cri.RunPodSandbox({ config });
    const { containerId } = await cri.CreateContainer({ podSandboxId, config: containerConfig(pod, 'app', BUSYBOX, ['sleep', '3600']), sandboxConfig: config });
    await cri.StartContainer({ containerId });
    const started = await waitFor(
      'ContainerStarted from an event',
      () =>
        seen.states.find(
          (m) => m.type === 'state' && m.uid === pod.uid && m.events.some((e) => e.type === 'ContainerStarted' && e.containerId === containerId),
        ),
      5000,
      5,
    );
    assert.equal(started.type === 'state' ? started.state.containers.find((c) => c.id === containerId)?.state : '', 'running');
    assert.equal(started.type === 'state' ? started.state.sandboxes[0]?.id : '', podSandboxId);
    assert.equal(started.type === 'state' ? started.state.name : '', pod.name);
    assert.ok(sim.crashContainer(containerId, { code: 3 }));
    const died = await waitFor(
      'ContainerDied from an event',
      () => seen.states.find((m) => m.type === 'state' && m.events.some((e) => e.type === 'ContainerDied' && e.containerId === containerId)),
      5000,
      5,
    );
    const dead = died.type === 'state' ? died.state.containers.find((c) => c.id === containerId) : undefined;
    assert.equal(dead?.state, 'exited');
    assert.equal(dead?.exitCode, 3);
    await cri.RemovePodSandbox({ podSandboxId });
    await waitFor('pod gone from events', () => seen.states.find((m) => m.type === 'gone' && m.uid === pod.uid), 5000, 5);
    assert.equal(seen.relists(), 1, 'only the first relist ran: the states came from events');
    const stats = await pleg.stats();
    assert.equal(stats?.evented, true);
    assert.ok((stats?.events ?? 0) >= 6, `events counted: ${stats?.events}`);
    assert.equal(pleg.health(Date.now() + 181_000).ok, true, 'a 5 min safety relist is not a stall');
    assert.match(pleg.health(Date.now() + 601_000).message ?? '', /threshold is 10m0s/);
    cri.close();
    await pleg.stop();
    bus.close();
    await sim.close();
  });

  it('drops events older than the stream (queued by the runtime while nobody listened): no ghost pod', async () => {
    const sim = new SimRuntime({ seed: 24 });
    const ghost = newPod('ghost');
    const hourAgo = (Date.now() - 3_600_000) * 1e6;
    const oldSandbox = {
      id: 'f'.repeat(64),
      metadata: { name: ghost.name, uid: ghost.uid, namespace: ghost.namespace, attempt: 0 },
      state: 'SANDBOX_READY' as const,
      createdAt: hourAgo,
      labels: { 'io.kubernetes.pod.uid': ghost.uid },
    };
    // The sim's RPCs, and a stream that first replays an hour-old event for a pod long gone.
    const runtime = Object.assign(withoutEvents(sim), {
      subscribeContainerEvents: (emit: (e: ContainerEventReply) => void) => {
        emit({
          containerId: oldSandbox.id,
          containerEventType: 'CONTAINER_STARTED_EVENT',
          createdAt: hourAgo,
          podSandboxStatus: oldSandbox,
          containersStatuses: [],
        });
        return sim.subscribeContainerEvents(emit);
      },
    });
    const bus = new Bus({ name: 'test' });
    const seen = collect(bus);
    const pleg = new PlegActor({ runtime: { embedded: runtime, name: 'sim' }, relistPeriodMs: 120_000, eventedRelistPeriodMs: 600_000, bus });
    pleg.start();
    await waitFor('evented mode', () => (pleg.followsEvents ? true : undefined), 10_000);
    const cri = createSimClient(sim);
    const pod = newPod('fresh');
    await cri.RunPodSandbox({ config: sandboxConfig(pod, dir) });
    await waitFor('the fresh pod from its event', () => seen.states.find((m) => m.type === 'state' && m.uid === pod.uid), 5000, 5);
    assert.equal(
      seen.states.find((m) => m.uid === ghost.uid),
      undefined,
      'the hour-old event made no pod state',
    );
    assert.equal((await pleg.stats())?.staleEvents, 1);
    cri.close();
    await pleg.stop();
    bus.close();
    await sim.close();
  });

  it('relists every period when the runtime has no event stream, and says why', async () => {
    const sim = new SimRuntime({ seed: 22 });
    const bus = new Bus({ name: 'test' });
    const seen = collect(bus);
    const pleg = new PlegActor({ runtime: { embedded: withoutEvents(sim), name: 'sim' }, relistPeriodMs: 100, bus });
    pleg.start();
    const mode = await waitFor('mode message', () => seen.modes.find((m) => m.type === 'mode' && m.streamError !== undefined), 10_000);
    assert.equal(mode.type === 'mode' ? mode.evented : true, false);
    assert.match(mode.type === 'mode' ? (mode.streamError ?? '') : '', /no event stream .*Unimplemented/i);
    const cri = createSimClient(sim);
    const pod = newPod('relisted');
    await cri.RunPodSandbox({ config: sandboxConfig(pod, dir) });
    await waitFor('seen by a relist', () => seen.states.find((m) => m.type === 'state' && m.uid === pod.uid), 5000);
    assert.ok(seen.relists() >= 2);
    assert.equal(pleg.followsEvents, false);
    assert.match(pleg.health(Date.now() + 181_000).message ?? '', /threshold is 3m0s/);
    const stats = await pleg.stats();
    assert.equal(stats?.streamFailures, 1, 'Unimplemented is not retried');
    cri.close();
    await pleg.stop();
    bus.close();
    await sim.close();
  });

  it('relists while the stream is broken and follows it again once the runtime is back', async () => {
    const sim = new SimRuntime({ seed: 23 });
    const listen = `unix://${join(dir, 'sim.sock')}`;
    let server = await startSimRuntimeServer({ listen, runtime: sim });
    const bus = new Bus({ name: 'test' });
    const seen = collect(bus);
    const pleg = new PlegActor({ runtime: { endpoint: server.endpoint, name: 'sim' }, relistPeriodMs: 200, eventedRelistPeriodMs: 600_000, bus });
    pleg.start();
    await waitFor('evented mode', () => (pleg.followsEvents ? true : undefined), 10_000);
    await server.close();
    await waitFor('relisting after the stream broke', () => (!pleg.followsEvents ? true : undefined), 10_000);
    server = await startSimRuntimeServer({ listen, runtime: sim });
    const cri = createSimClient(sim);
    const pod = newPod('back');
    await cri.RunPodSandbox({ config: sandboxConfig(pod, dir) });
    await waitFor('seen after the runtime came back', () => seen.states.find((m) => m.type === 'state' && m.uid === pod.uid), 15_000);
    await waitFor('evented again', () => (pleg.followsEvents ? true : undefined), 15_000);
    const relistsNow = seen.relists();
    const pod2 = newPod('back2');
    await cri.RunPodSandbox({ config: sandboxConfig(pod2, dir) });
    await waitFor('a new pod from the reopened stream', () => seen.states.find((m) => m.type === 'state' && m.uid === pod2.uid), 5000, 5);
    assert.ok(seen.relists() - relistsNow <= 1, 'not from the 200 ms relist: it stopped once the stream was back');
    assert.ok(((await pleg.stats())?.streamFailures ?? 0) >= 1);
    cri.close();
    await pleg.stop();
    bus.close();
    await server.close();
    await sim.close();
  });
});
