// Helpers for the sim unit tests: a sim on a manual clock with an in-process client, and pods
// and containers made the way the kubelet makes them (test/helpers/cri-fixtures.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import type { CriClient, CriClientOptions } from '../../src/native/cri/client.js';
import { ManualClock, SimRuntime, createSimClient, type SimRuntimeOptions } from '../../src/sim/index.js';
import { containerConfig, newPod, sandboxConfig, type PodRef } from '../helpers/cri-fixtures.js';

export const BUSYBOX = 'docker.io/library/busybox:1.35';

export interface SimHarness {
  sim: SimRuntime;
  cri: CriClient;
  clock: ManualClock;
  logRoot: string;
  /** Creates a pod sandbox; returns its ID and pod. */
  pod(prefix?: string): Promise<{ pod: PodRef; sandboxId: string }>;
  /** Creates (and by default starts) a container running `command` in a new pod. */
  container(
    command: string[],
    opts?: { annotations?: Record<string, string>; start?: boolean; name?: string; pod?: { pod: PodRef; sandboxId: string }; args?: string[] },
  ): Promise<{ id: string; sandboxId: string; pod: PodRef }>;
  status(id: string): Promise<NonNullable<Awaited<ReturnType<CriClient['ContainerStatus']>>['status']>>;
  /** Moves the manual clock and lets the in-process calls settle. */
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** Lets queued microtasks and immediates run (in-process calls take a few of each). */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await tick();
}

export async function simHarness(opts: SimRuntimeOptions = {}, clientOpts: CriClientOptions = {}): Promise<SimHarness> {
  const clock = new ManualClock();
  const sim = new SimRuntime({ seed: 7, clock, ...opts });
  const cri = createSimClient(sim, { runtimeRequestTimeoutMs: 10_000, ...clientOpts });
  const logRoot = await mkdtemp(join(tmpdir(), 'kts-sim-unit-'));
  const h: SimHarness = {
    sim,
    cri,
    clock,
    logRoot,
    async pod(prefix = 'p') {
      const pod = newPod(prefix);
      const { podSandboxId } = await cri.RunPodSandbox({ config: sandboxConfig(pod, logRoot) });
      return { pod, sandboxId: podSandboxId };
    },
    async container(command, o = {}) {
      const p = o.pod ?? (await h.pod());
      const cfg = containerConfig(p.pod, o.name ?? 'c', BUSYBOX, command, { annotations: o.annotations ?? {} });
      if (o.args) cfg.args = o.args;
      const { containerId } = await cri.CreateContainer({ podSandboxId: p.sandboxId, config: cfg, sandboxConfig: sandboxConfig(p.pod, logRoot) });
      if (o.start !== false) await cri.StartContainer({ containerId });
      return { id: containerId, sandboxId: p.sandboxId, pod: p.pod };
    },
    async status(id) {
      const { status } = await cri.ContainerStatus({ containerId: id });
      if (!status) throw new Error(`no status for ${id}`);
      return status;
    },
    async advance(ms) {
      await settle();
      clock.advance(ms);
      await settle();
    },
    async close() {
      cri.close();
      await sim.close();
      await rm(logRoot, { recursive: true, force: true });
    },
  };
  return h;
}
