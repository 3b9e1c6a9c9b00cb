// The PLEG thread for real: events for a pod started and stopped behind its back, the upstream
// metrics, and recovery when its thread is killed (the cache is rebuilt by a full relist).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { SimRuntime, createSimClient } from '../../src/sim/index.js';
import { PlegActor } from '../../src/actors/pleg/handle.js';
import { Bus, type MessageOf } from '../../src/bus/index.js';
import { kubeletMetrics } from '../../src/metrics/kubelet-metrics.js';
import { containerConfig, newPod, sandboxConfig, waitFor } from '../helpers/cri-fixtures.js';

describe('PLEG actor', () => {
  let sim: SimRuntime;
  let pleg: PlegActor;
  let logs: string;
  const got: MessageOf<'pod.state'>[] = [];
  let bus: Bus;
  const registry = new Registry();

  before(() => {
    sim = new SimRuntime({ seed: 5 });
    logs = mkdtempSync(join(tmpdir(), 'kts-pleg-'));
    bus = new Bus({ name: 'test' });
    bus.subscribe('pod.state', (m) => void got.push(m));
    pleg = new PlegActor({ runtime: { embedded: sim, name: 'sim' }, relistPeriodMs: 100, bus, metrics: kubeletMetrics(registry) });
    pleg.start();
  });

  after(async () => {
    await pleg.stop();
    bus.close();
    await sim.close();
    rmSync(logs, { recursive: true, force: true });
  });

  it('reports a pod started and killed behind its back, with events and full state', async () => {
    const cri = createSimClient(sim);
    const pod = newPod('pleg');
    const config = sandboxConfig(pod, logs);
    const { podSandboxId } = await cri.RunPodSandbox({ config });
    const { containerId } = await cri.CreateContainer({
      podSandboxId,
      config: containerConfig(pod, 'app', 'docker.io/library/busybox:1.35', ['sleep', '3600']),
      sandboxConfig: config,
    });
    await cri.StartContainer({ containerId });
    const started = await waitFor(
      'ContainerStarted',
      () => got.find((m) => m.type === 'state' && m.uid === pod.uid && m.events.some((e) => e.type === 'ContainerStarted' && e.containerId === containerId)),
      5000,
    );
    assert.equal(started.type === 'state' ? started.state.containers[0]?.state : '', 'running');
    await cri.StopContainer({ containerId, timeout: 0 });
    const died = await waitFor(
      'ContainerDied',
      () => got.find((m) => m.type === 'state' && m.events.some((e) => e.type === 'ContainerDied' && e.containerId === containerId)),
      5000,
    );
    assert.equal(died.type === 'state' ? died.state.containers[0]?.exitCode : -1, 137);
    await cri.StopPodSandbox({ podSandboxId });
    await cri.RemovePodSandbox({ podSandboxId });
    await waitFor('pod gone', () => got.find((m) => m.type === 'gone' && m.uid === pod.uid), 5000);
    cri.close();
    assert.equal(pleg.health().ok, true);
    assert.match(await registry.metrics(), /kubelet_pleg_relist_duration_seconds_count [1-9]/);
    assert.ok(((await pleg.stats())?.relists ?? 0) > 0);
    assert.deepEqual(await pleg.threadHealth(), { ok: true }, 'the thread answers health over comlink');
  });

  it('restarts a killed thread and reports every pod again', async () => {
    const cri = createSimClient(sim);
    const pod = newPod('survivor');
    const { podSandboxId } = await cri.RunPodSandbox({ config: sandboxConfig(pod, logs) });
    await waitFor('seen once', () => got.find((m) => m.type === 'state' && m.uid === pod.uid), 5000);
    const before = pleg.generation;
    const mark = got.length;
    await pleg.kill();
    await waitFor('restarted', () => (pleg.generation > before ? true : undefined), 10_000);
    await waitFor('seen again after restart', () => got.slice(mark).find((m) => m.type === 'state' && m.uid === pod.uid), 10_000);
    await cri.StopPodSandbox({ podSandboxId });
    cri.close();
  });

  it('reports unhealthy when relists stop for 3 minutes (relisting) or 10 minutes (following events)', async () => {
    assert.equal(pleg.followsEvents, true, 'the embedded sim streams its events');
    assert.match(pleg.health(Date.now() + 601_000).message ?? '', /PLEG is not healthy: pleg was last seen active 60\ds ago; threshold is 10m0s/);
    const own = new Bus({ name: 'relisting' }); // one PLEG per bus: actors read their thread's mode from it
    const relisting = new PlegActor({ runtime: { embedded: sim, name: 'sim' }, relistPeriodMs: 100, evented: false, bus: own });
    relisting.start();
    await waitFor('a relist', async () => (((await relisting.stats())?.relists ?? 0) > 0 ? true : undefined), 5000);
    assert.equal(relisting.followsEvents, false);
    assert.match(relisting.health(Date.now() + 181_000).message ?? '', /PLEG is not healthy: pleg was last seen active 18\ds ago; threshold is 3m0s/);
    await relisting.stop();
    own.close();
  });
});
