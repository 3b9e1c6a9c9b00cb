// The sync pool on real worker threads against the simulated runtime: concurrent syncs, a hung
// runtime call cancelled through the shared flag, a pool thread that dies, and a CRI endpoint.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimRuntime, startSimRuntimeServer } from '../../src/sim/index.js';
import { CriCancelledError } from '../../src/native/cri/errors.js';
import { SyncPool, SyncPoolError } from '../../src/actors/sync-pool/handle.js';
import type { Pod } from '../../src/api/core-v1.js';
import { applyPodDefaults } from '../../src/pods/static-pod.js';
import { planSync } from '../../src/pods/sync.js';
import { Backoff } from '../../src/pods/backoff.js';
import { emptyRuntimeState } from '../../src/pods/runtime-state.js';

function pod(i: number): Pod {
  const p: Pod = {
    metadata: { name: `pool-${i}`, namespace: 'default', uid: `pool-uid-${i}-${Date.now()}` },
    spec: { containers: [{ name: 'app', image: 'busybox:1.35', command: ['sleep', '3600'] }] },
  };
  applyPodDefaults(p);
  return p;
}

function plan(p: Pod) {
  return planSync(p, emptyRuntimeState(p.metadata.uid!, p.metadata.name!, 'default'), {
    now: Date.now(),
    crashBackoff: new Backoff(10_000, 300_000),
    pullBackoff: new Backoff(10_000, 300_000),
  });
}

describe('sync pool', () => {
  let sim: SimRuntime;
  let pool: SyncPool;
  let logs: string;

  before(() => {
    sim = new SimRuntime({ seed: 11 });
    pool = new SyncPool({ runtime: { embedded: sim, name: 'sim' }, threads: 2, concurrentTasksPerThread: 8 });
    logs = mkdtempSync(join(tmpdir(), 'kts-pool-'));
  });

  after(async () => {
    await pool.close();
    await sim.close();
    rmSync(logs, { recursive: true, force: true });
  });

  it('runs many pod syncs at once on its threads', async () => {
    const pods = Array.from({ length: 24 }, (_, i) => pod(i));
    const results = await Promise.all(pods.map((p) => pool.run({ type: 'sync', pod: p, plan: plan(p), sandbox: { attempt: 0, podLogsDir: logs } }).result));
    assert.equal(pool.threads, 2);
    for (const r of results) {
      assert.equal(r.result.sandboxError, undefined);
      assert.equal(r.result.started.length, 1);
      assert.ok(r.result.started[0]?.containerId, JSON.stringify(r.result.started[0]?.error));
    }
    const st = await pool.run({ type: 'inspect', uid: pods[3]!.metadata.uid! }).result;
    assert.equal(st.state.containers[0]?.state, 'running');
    assert.equal(st.state.sandboxes[0]?.ready, true);
    const killed = await pool.run({ type: 'kill', uid: pods[3]!.metadata.uid!, graceSeconds: 0 }).result;
    assert.equal(killed.killed.length, 2, 'container and sandbox');
    const removed = await pool.run({ type: 'remove', uid: pods[3]!.metadata.uid! }).result;
    assert.equal(removed.removed.length, 1);
  });

  it('cancels a sync stuck in a hung runtime call, and says when the thread let go', async () => {
    sim.faults.set('CreateContainer', { hang: true });
    try {
      const p = pod(100);
      const h = pool.run({ type: 'sync', pod: p, plan: plan(p), sandbox: { attempt: 0, podLogsDir: logs } });
      await new Promise((r) => setTimeout(r, 200));
      h.cancel();
      const r = await h.result;
      const start = r.result.started[0];
      assert.equal(start?.error?.reason, 'CreateContainerError');
      assert.match(start?.error?.message ?? '', /cancel/i);
      await h.settled;
      // Cancelled right after run(): the thread may not have started it yet (it fails at its
      // first call) or may be in that call (slow here, so the cancel lands inside it).
      sim.latency.set('ListPodSandbox', { fixedMs: 300 });
      sim.latency.set('ListContainers', { fixedMs: 300 });
      const h2 = pool.run({ type: 'inspect', uid: p.metadata.uid! });
      h2.cancel();
      await assert.rejects(h2.result, CriCancelledError, 'a task cancelled at once fails with CriCancelledError');
    } finally {
      sim.faults.clear();
      sim.latency.clear();
    }
  });

  it('survives a pool thread dying mid-task', async () => {
    await assert.rejects(pool.run({ type: 'crash' }).result, SyncPoolError);
    const p = pod(200);
    const r = await pool.run({ type: 'sync', pod: p, plan: plan(p), sandbox: { attempt: 0, podLogsDir: logs } }).result;
    assert.ok(r.result.started[0]?.containerId, 'the pool replaced the thread and goes on');
  });

  it('uses a CRI endpoint with one client per thread', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-pool-sock-'));
    const server = await startSimRuntimeServer({ listen: `unix://${join(dir, 'sim.sock')}`, runtime: sim });
    const socketPool = new SyncPool({ runtime: { endpoint: server.endpoint, name: 'sim' }, threads: 1 });
    try {
      const p = pod(300);
      const r = await socketPool.run({ type: 'sync', pod: p, plan: plan(p), sandbox: { attempt: 0, podLogsDir: logs } }).result;
      assert.ok(r.result.started[0]?.containerId);
    } finally {
      await socketPool.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
