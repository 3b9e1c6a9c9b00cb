// Sandbox and container state rules as containerd keeps them: name reservation, start only from
// created, stop and remove idempotence, created containers, stats, resources, streaming URLs,
// verbose info, and 10,000 containers held with correct indexes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CriInvalidArgumentError, CriNotFoundError, CriRuntimeError, CriUnavailableError } from '../../src/native/cri/errors.js';
import { SIM_STREAMING_BASE } from '../../src/sim/index.js';
import { containerConfig, newPod, sandboxConfig } from '../helpers/cri-fixtures.js';
import { simHarness, BUSYBOX, type SimHarness } from './sim-fixtures.js';

describe('sim runtime state rules', () => {
  let h: SimHarness;
  before(async () => {
    h = await simHarness();
  });
  after(async () => {
    await h.close();
  });

  it('answers Version as kubelet-ts-sim speaking v1', async () => {
    const v = await h.cri.Version({ version: 'v1' });
    assert.deepEqual([v.runtimeName, v.runtimeApiVersion], ['kubelet-ts-sim', 'v1']);
  });

  it('refuses a second sandbox with the same name, namespace, uid and attempt', async () => {
    const pod = newPod('dup');
    const first = await h.cri.RunPodSandbox({ config: sandboxConfig(pod, h.logRoot) });
    await assert.rejects(h.cri.RunPodSandbox({ config: sandboxConfig(pod, h.logRoot) }), (err: unknown) => {
      assert.ok(err instanceof CriRuntimeError, String(err));
      assert.match(err.message, new RegExp(`is reserved for "${first.podSandboxId}"`));
      return true;
    });
    await h.cri.RunPodSandbox({ config: sandboxConfig({ ...pod, attempt: 1 }, h.logRoot) }); // next attempt is fine
    await h.cri.RemovePodSandbox({ podSandboxId: first.podSandboxId });
    await h.cri.RunPodSandbox({ config: sandboxConfig(pod, h.logRoot) }); // the name is free again
  });

  it("refuses requests without required parts with containerd's words (Unknown) or InvalidArgument", async () => {
    const p = await h.pod();
    await assert.rejects(h.cri.RunPodSandbox({}), (err: unknown) => err instanceof CriRuntimeError && /sandbox config must include metadata/.test(err.message));
    await assert.rejects(
      h.cri.CreateContainer({ podSandboxId: p.sandboxId }),
      (err: unknown) => err instanceof CriRuntimeError && /container config/.test(err.message),
    );
    await assert.rejects(
      h.cri.CreateContainer({ podSandboxId: p.sandboxId, config: { image: { image: BUSYBOX } } }),
      (err: unknown) => err instanceof CriRuntimeError && /metadata/.test(err.message),
    );
    await assert.rejects(h.cri.ExecSync({ containerId: (await h.container(['sleep', '1000'])).id, cmd: [] }), CriInvalidArgumentError);
  });

  it('starts only created containers; a start in a stopped sandbox fails with StartError', async () => {
    const c = await h.container(['sleep', '1000']);
    await assert.rejects(
      h.cri.StartContainer({ containerId: c.id }),
      (err: unknown) => err instanceof CriRuntimeError && /CONTAINER_RUNNING state/.test(err.message),
    );
    const p = await h.pod();
    const created = await h.container(['sleep', '1000'], { pod: p, start: false });
    await h.cri.StopPodSandbox({ podSandboxId: p.sandboxId });
    assert.equal((await h.status(created.id)).state, 'CONTAINER_CREATED', 'stopping a sandbox leaves created containers created');
    await assert.rejects(
      h.cri.StartContainer({ containerId: created.id }),
      (err: unknown) => err instanceof CriRuntimeError && /is not running/.test(err.message),
    );
    const failed = await h.status(created.id);
    assert.deepEqual([failed.state, failed.exitCode, failed.reason], ['CONTAINER_EXITED', 128, 'StartError'], 'as containerd, a failed start leaves it exited');
  });

  it('crashes a running container on demand (chaos), and refuses one that is not running', async () => {
    const c = await h.container(['sleep', '1000']);
    assert.equal(h.sim.crashContainer(c.id), true);
    const s = await h.status(c.id);
    assert.deepEqual([s.state, s.exitCode, s.reason], ['CONTAINER_EXITED', 137, 'Error']);
    assert.ok(Number(s.finishedAt) >= Number(s.startedAt));
    assert.equal(h.sim.crashContainer(c.id), false, 'an exited container stays as it was');
    assert.equal((await h.status(c.id)).exitCode, 137);
    const o = await h.container(['sleep', '1000']);
    h.sim.crashContainer(o.id, { code: 9, oom: true });
    const os = await h.status(o.id);
    assert.deepEqual([os.exitCode, os.reason], [9, 'OOMKilled']);
    assert.throws(() => h.sim.crashContainer('nope'), /not found/);
  });

  it('stops idempotently and removes a running container by killing it', async () => {
    const c = await h.container(['sleep', '1000']);
    await h.cri.StopContainer({ containerId: c.id, timeout: 0 });
    await h.cri.StopContainer({ containerId: c.id, timeout: 0 });
    const st = await h.status(c.id);
    assert.equal(st.exitCode, 137);
    const running = await h.container(['sleep', '1000']);
    await h.cri.RemoveContainer({ containerId: running.id });
    await assert.rejects(h.status(running.id), CriNotFoundError);
    await h.cri.RemoveContainer({ containerId: running.id });
  });

  it('names unknown IDs in NotFound messages as containerd does', async () => {
    const id = 'e'.repeat(64);
    await assert.rejects(
      h.cri.ContainerStatus({ containerId: id }),
      (err: unknown) => err instanceof CriNotFoundError && err.message.includes(`an error occurred when try to find container "${id}": not found`),
    );
    await assert.rejects(h.cri.StopPodSandbox({ podSandboxId: id }), CriNotFoundError);
    await h.cri.RemovePodSandbox({ podSandboxId: id }); // success, as containerd
  });

  it('accepts a unique ID prefix as containerd does, and not an ambiguous one', async () => {
    const c = await h.container(['sleep', '1000']);
    assert.equal((await h.status(c.id.slice(0, 12))).id, c.id);
    assert.equal((await h.cri.PodSandboxStatus({ podSandboxId: c.sandboxId.slice(0, 12) })).status?.id, c.sandboxId);
    await assert.rejects(h.status(''), CriNotFoundError);
  });

  it('answers a stop pending when the runtime closes, instead of leaving it hanging', async () => {
    const own = await simHarness();
    const c = await own.container(['sleep', '1000']);
    const outcome = own.cri.StopContainer({ containerId: c.id, timeout: 600 }).then(
      () => 'answered with success',
      (err: unknown) => err,
    );
    await own.advance(1_000);
    await own.sim.close();
    assert.ok((await outcome) instanceof CriUnavailableError, String(await outcome));
    await own.close();
  });

  it('echoes mounts in the status and stores updated resources', async () => {
    const p = await h.pod();
    const cfg = containerConfig(p.pod, 'm', BUSYBOX, ['sleep', '1000']);
    cfg.mounts = [{ containerPath: '/data', hostPath: '/var/lib/data', readonly: true }];
    const { containerId } = await h.cri.CreateContainer({ podSandboxId: p.sandboxId, config: cfg, sandboxConfig: sandboxConfig(p.pod, h.logRoot) });
    const st = await h.status(containerId);
    assert.deepEqual(
      st.mounts.map((m) => [m.containerPath, m.hostPath, m.readonly]),
      [['/data', '/var/lib/data', true]],
    );
    await h.cri.UpdateContainerResources({ containerId, linux: { cpuQuota: 50_000, cpuPeriod: 100_000, memoryLimitInBytes: 64 << 20 } });
    assert.equal(h.sim.resourcesOf(containerId)?.cpuQuota, 50_000);
    assert.equal(h.sim.resourcesOf(containerId)?.memoryLimitInBytes, 64 << 20);
  });

  it('reports plausible stats for running containers', async () => {
    const c = await h.container(['sleep', '1000']);
    await h.advance(10_000);
    const { stats } = await h.cri.ContainerStats({ containerId: c.id });
    assert.equal(stats?.attributes?.id, c.id);
    const cpu = stats?.cpu?.usageCoreNanoSeconds?.value ?? 0;
    assert.ok(cpu > 0 && cpu <= 10e9, `cpu ${cpu} ns over 10 s`);
    const mem = stats?.memory?.workingSetBytes?.value ?? 0;
    assert.ok(mem >= 8 << 20 && mem <= 64 << 20, `memory ${mem}`);
    const list = await h.cri.ListContainerStats({ filter: { podSandboxId: c.sandboxId } });
    assert.deepEqual(
      list.stats.map((s) => s.attributes?.id),
      [c.id],
    );
  });

  it('answers Exec, Attach and PortForward with a sim URL, and verbose status with info', async () => {
    const c = await h.container(['sleep', '1000']);
    const exec = await h.cri.Exec({ containerId: c.id, cmd: ['sh'], stdout: true });
    assert.ok(exec.url.startsWith(`${SIM_STREAMING_BASE}/exec/`), exec.url);
    assert.match(exec.url, /^http:\/\/127\.0\.0\.1:\d+\/(exec|attach|portforward)\/\S+$/, 'shaped as containerd answers');
    assert.ok((await h.cri.Attach({ containerId: c.id, stdout: true })).url.startsWith(`${SIM_STREAMING_BASE}/attach/`));
    assert.ok((await h.cri.PortForward({ podSandboxId: c.sandboxId, port: [80] })).url.startsWith(`${SIM_STREAMING_BASE}/portforward/`));
    const verbose = await h.cri.ContainerStatus({ containerId: c.id, verbose: true });
    assert.equal((JSON.parse(verbose.info['info'] ?? '{}') as { sandboxID?: string }).sandboxID, c.sandboxId);
  });
});

describe('sim at 10,000 containers', () => {
  it('holds them with correct indexes by sandbox, state and label', async () => {
    const h = await simHarness();
    try {
      const pods = 100;
      const perPod = 100;
      const sandboxIds: string[] = [];
      let some = '';
      for (let p = 0; p < pods; p++) {
        const pod = newPod(`big${p}`);
        const { podSandboxId } = await h.cri.RunPodSandbox({ config: sandboxConfig(pod, '') });
        sandboxIds.push(podSandboxId);
        for (let c = 0; c < perPod; c++) {
          // Every tenth container exits at once; the rest run.
          const cmd = c % 10 === 0 ? ['true'] : ['sleep', '3600'];
          const { containerId } = await h.cri.CreateContainer({
            podSandboxId,
            config: containerConfig(pod, `c${c}`, BUSYBOX, cmd, { labels: { shard: String(c % 4) } }),
            sandboxConfig: sandboxConfig(pod, ''),
          });
          await h.cri.StartContainer({ containerId });
          if (p === 42 && c === 7) some = containerId;
        }
      }
      const stats = h.sim.stats();
      assert.deepEqual(stats.containers, { created: 0, running: 9_000, exited: 1_000 });
      assert.equal(stats.scheduledTimers, 9_000, 'each sleeping container has one entry in the one scheduler heap');
      const all = await h.cri.ListContainers({});
      assert.equal(all.containers.length, 10_000);
      const inPod = await h.cri.ListContainers({ filter: { podSandboxId: sandboxIds[42]! } });
      assert.equal(inPod.containers.length, 100);
      const exited = await h.cri.ListContainers({ filter: { state: { state: 'CONTAINER_EXITED' } } });
      assert.equal(exited.containers.length, 1_000);
      const shard = await h.cri.ListContainers({ filter: { podSandboxId: sandboxIds[3]!, labelSelector: { shard: '1' } } });
      assert.equal(shard.containers.length, 25);
      assert.equal((await h.status(some)).metadata?.name, 'c7');
      await h.advance(3_600_000);
      assert.deepEqual(h.sim.stats().containers, { created: 0, running: 0, exited: 10_000 }, 'all sleeps ended on one clock move');
      for (const id of sandboxIds.slice(0, 50)) await h.cri.RemovePodSandbox({ podSandboxId: id });
      assert.equal((await h.cri.ListContainers({})).containers.length, 5_000);
    } finally {
      await h.close();
    }
  });
});
