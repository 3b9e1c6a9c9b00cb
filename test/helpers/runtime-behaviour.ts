// One runtime behaviour suite, run unchanged against every CRI runtime we support (real
// containerd, the simulated runtime in-process and over its socket). It exercises CRI the way a
// kubelet does. Where containerd and the simulation disagree, containerd is right and the
// simulation gets fixed: expectations here are what containerd 1.6 does.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CriClient } from '../../src/native/cri/client.js';
import { CriDeadlineError, CriError, CriNotFoundError, CriRuntimeError } from '../../src/native/cri/errors.js';
import { containerConfig, newPod, sandboxConfig, waitFor, type PodRef } from './cri-fixtures.js';

export interface RuntimeUnderTest {
  cri: CriClient;
  /** Image references that exist in the runtime. */
  busybox: string;
  /** Root folder for pod log directories (created by the test). */
  logRoot: string;
  close(): Promise<void>;
}

const NO_SUCH_ID = 'f'.repeat(64);

async function rejectsWith(p: Promise<unknown>, cls: abstract new (...a: never[]) => CriError, what: string): Promise<CriError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof cls, `${what}: expected ${cls.name}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    assert.ok(err.message.length > 0, `${what}: error has a message`);
    return err;
  }
  assert.fail(`${what}: expected ${cls.name}, but the call succeeded`);
}

export function runtimeBehaviourSuite(label: string, setup: () => Promise<RuntimeUnderTest>): void {
  describe(`CRI runtime behaviour: ${label}`, () => {
    let rt: RuntimeUnderTest;
    const sandboxes: string[] = [];

    before(async () => {
      rt = await setup();
    });

    after(async () => {
      for (const id of sandboxes) {
        await rt.cri.StopPodSandbox({ podSandboxId: id }).catch(() => undefined);
        await rt.cri.RemovePodSandbox({ podSandboxId: id }).catch(() => undefined);
      }
      await rt.close();
    });

    async function runSandbox(pod: PodRef, extra: Parameters<typeof sandboxConfig>[2] = {}): Promise<string> {
      const res = await rt.cri.RunPodSandbox({ config: sandboxConfig(pod, rt.logRoot, extra) });
      assert.match(res.podSandboxId, /^[0-9a-f]{64}$/, 'sandbox IDs are 64 hex digits');
      sandboxes.push(res.podSandboxId);
      return res.podSandboxId;
    }

    async function startContainer(pod: PodRef, sandboxId: string, name: string, command: string[], attempt = 0): Promise<string> {
      const { containerId } = await rt.cri.CreateContainer({
        podSandboxId: sandboxId,
        config: containerConfig(pod, name, rt.busybox, command, { attempt }),
        sandboxConfig: sandboxConfig(pod, rt.logRoot),
      });
      assert.match(containerId, /^[0-9a-f]{64}$/, 'container IDs are 64 hex digits');
      await rt.cri.StartContainer({ containerId });
      return containerId;
    }

    async function exited(containerId: string, timeoutMs = 15_000) {
      return waitFor(
        `container ${containerId.slice(0, 12)} to exit`,
        async () => {
          const { status } = await rt.cri.ContainerStatus({ containerId });
          return status?.state === 'CONTAINER_EXITED' ? status : undefined;
        },
        timeoutMs,
      );
    }

    it('answers Version and Status', async () => {
      const v = await rt.cri.Version({ version: 'v1' });
      assert.ok(v.runtimeName.length > 0, 'runtime name');
      assert.ok(v.runtimeVersion.length > 0, 'runtime version');
      assert.ok(v.runtimeApiVersion.length > 0, 'runtime API version');
      const s = await rt.cri.Status({ verbose: false });
      const ready = s.status?.conditions.find((c) => c.type === 'RuntimeReady');
      assert.equal(ready?.status, true, 'RuntimeReady condition is true');
      assert.ok(
        s.status?.conditions.some((c) => c.type === 'NetworkReady'),
        'NetworkReady condition present',
      );
    });

    it('runs a sandbox through ready -> notready -> removed, keeping metadata, labels and annotations', async () => {
      const pod = newPod('sbx');
      const before = Date.now() * 1e6;
      const id = await runSandbox(pod, { labels: { app: 'behaviour' }, annotations: { note: 'kept as given' } });
      const { status } = await rt.cri.PodSandboxStatus({ podSandboxId: id, verbose: false });
      assert.ok(status, 'status present');
      assert.equal(status.id, id);
      assert.deepEqual(
        { name: status.metadata?.name, namespace: status.metadata?.namespace, uid: status.metadata?.uid, attempt: status.metadata?.attempt },
        { name: pod.name, namespace: pod.namespace, uid: pod.uid, attempt: 0 },
      );
      assert.equal(status.state, 'SANDBOX_READY');
      assert.ok(status.createdAt >= before - 5e9 && status.createdAt <= Date.now() * 1e6 + 5e9, `createdAt ${status.createdAt} is now, in ns`);
      assert.equal(status.labels['app'], 'behaviour');
      assert.equal(status.labels['io.kubernetes.pod.uid'], pod.uid);
      assert.equal(status.annotations['note'], 'kept as given');
      assert.match(status.network?.ip ?? '', /^\d+\.\d+\.\d+\.\d+$/, 'a pod network sandbox gets an IPv4 address');

      await rt.cri.StopPodSandbox({ podSandboxId: id });
      const stopped = await rt.cri.PodSandboxStatus({ podSandboxId: id, verbose: false });
      assert.equal(stopped.status?.state, 'SANDBOX_NOTREADY');
      // Stop is idempotent: the kubelet repeats it freely.
      await rt.cri.StopPodSandbox({ podSandboxId: id });

      await rt.cri.RemovePodSandbox({ podSandboxId: id });
      await rejectsWith(rt.cri.PodSandboxStatus({ podSandboxId: id, verbose: false }), CriNotFoundError, 'status of a removed sandbox');
      const list = await rt.cri.ListPodSandbox({ filter: { id } });
      assert.equal(list.items.length, 0, 'a removed sandbox is not listed');
      // Remove is idempotent too.
      await rt.cri.RemovePodSandbox({ podSandboxId: id });
    });

    it('filters ListPodSandbox by id, state and labels', async () => {
      const a = newPod('lsa');
      const b = newPod('lsb');
      const idA = await runSandbox(a, { labels: { group: a.uid } });
      const idB = await runSandbox(b, { labels: { group: a.uid } });
      await rt.cri.StopPodSandbox({ podSandboxId: idB });

      const byLabel = await rt.cri.ListPodSandbox({ filter: { labelSelector: { group: a.uid } } });
      assert.deepEqual(byLabel.items.map((i) => i.id).sort(), [idA, idB].sort());
      const ready = await rt.cri.ListPodSandbox({ filter: { labelSelector: { group: a.uid }, state: { state: 'SANDBOX_READY' } } });
      assert.deepEqual(
        ready.items.map((i) => i.id),
        [idA],
      );
      const notReady = await rt.cri.ListPodSandbox({ filter: { labelSelector: { group: a.uid }, state: { state: 'SANDBOX_NOTREADY' } } });
      assert.deepEqual(
        notReady.items.map((i) => i.id),
        [idB],
      );
      const byId = await rt.cri.ListPodSandbox({ filter: { id: idA } });
      assert.equal(byId.items.length, 1);
      assert.equal(byId.items[0]?.metadata?.uid, a.uid);
      assert.equal(byId.items[0]?.labels['group'], a.uid);
      const all = await rt.cri.ListPodSandbox({});
      assert.ok(all.items.some((i) => i.id === idA) && all.items.some((i) => i.id === idB), 'unfiltered list has both');
    });

    it('runs a container through created -> running -> exited with its exit code', async () => {
      const pod = newPod('ctr');
      const sb = await runSandbox(pod);
      const { containerId } = await rt.cri.CreateContainer({
        podSandboxId: sb,
        config: containerConfig(pod, 'app', rt.busybox, ['sh', '-c', 'sleep 1; exit 3'], { labels: { tier: 'x' }, annotations: { why: 'test' } }),
        sandboxConfig: sandboxConfig(pod, rt.logRoot),
      });
      const created = await rt.cri.ContainerStatus({ containerId, verbose: false });
      assert.equal(created.status?.state, 'CONTAINER_CREATED');
      assert.ok((created.status?.createdAt ?? 0) > 0, 'createdAt set');
      assert.equal(created.status?.startedAt, 0, 'not started yet');

      await rt.cri.StartContainer({ containerId });
      const running = await rt.cri.ContainerStatus({ containerId, verbose: false });
      assert.equal(running.status?.state, 'CONTAINER_RUNNING');
      assert.ok((running.status?.startedAt ?? 0) >= (running.status?.createdAt ?? 0), 'started after created');

      const st = await exited(containerId);
      assert.equal(st.exitCode, 3);
      assert.equal(st.reason, 'Error');
      assert.ok(st.finishedAt >= st.startedAt, 'finished after started');
      assert.equal(st.metadata?.name, 'app');
      assert.equal(st.metadata?.attempt, 0);
      assert.equal(st.labels['tier'], 'x');
      assert.equal(st.labels['io.kubernetes.container.name'], 'app');
      assert.equal(st.annotations['why'], 'test');
      assert.equal(st.image?.image, rt.busybox);
      assert.match(st.imageRef, /sha256:[0-9a-f]{64}/, 'imageRef names the image digest');
      // containerd's rule: imageRef is the image's first repo digest when it has one (a pulled
      // image), else its ID (an imported image such as our busybox).
      const img = (await rt.cri.ImageStatus({ image: { image: rt.busybox }, verbose: false })).image;
      assert.equal(st.imageRef, img?.repoDigests[0] ?? img?.id);
      assert.equal(st.logPath, join(rt.logRoot, `${pod.namespace}_${pod.name}_${pod.uid}`, 'app/0.log'));
    });

    it('reports exit code 0 as Completed', async () => {
      const pod = newPod('ok');
      const sb = await runSandbox(pod);
      const id = await startContainer(pod, sb, 'done', ['true']);
      const st = await exited(id);
      assert.equal(st.exitCode, 0);
      assert.equal(st.reason, 'Completed');
    });

    it('keeps restarts as new attempts beside the old container', async () => {
      const pod = newPod('rst');
      const sb = await runSandbox(pod);
      const first = await startContainer(pod, sb, 'app', ['sh', '-c', 'exit 1'], 0);
      await exited(first);
      const second = await startContainer(pod, sb, 'app', ['sh', '-c', 'sleep 3600'], 1);
      assert.notEqual(first, second);
      const list = await rt.cri.ListContainers({ filter: { podSandboxId: sb } });
      const attempts = list.containers.map((c) => [c.metadata?.name, c.metadata?.attempt, c.state]).sort();
      assert.deepEqual(attempts, [
        ['app', 0, 'CONTAINER_EXITED'],
        ['app', 1, 'CONTAINER_RUNNING'],
      ]);
      // The same name and attempt twice is refused: that is how runtimes stop duplicate containers.
      await assert.rejects(
        rt.cri.CreateContainer({
          podSandboxId: sb,
          config: containerConfig(pod, 'app', rt.busybox, ['true'], { attempt: 1 }),
          sandboxConfig: sandboxConfig(pod, rt.logRoot),
        }),
        (err: unknown) => err instanceof CriError,
      );
      await rt.cri.StopContainer({ containerId: second, timeout: 0 });
      const st = await exited(second);
      assert.equal(st.exitCode, 137, 'killed by SIGKILL');
    });

    it('filters ListContainers by sandbox, state, id and labels', async () => {
      const pod = newPod('lc');
      const sb = await runSandbox(pod);
      const runner = await startContainer(pod, sb, 'runner', ['sleep', '3600']);
      const quitter = await startContainer(pod, sb, 'quitter', ['true']);
      await exited(quitter);
      const running = await rt.cri.ListContainers({ filter: { podSandboxId: sb, state: { state: 'CONTAINER_RUNNING' } } });
      assert.deepEqual(
        running.containers.map((c) => c.id),
        [runner],
      );
      const exitedList = await rt.cri.ListContainers({ filter: { podSandboxId: sb, state: { state: 'CONTAINER_EXITED' } } });
      assert.deepEqual(
        exitedList.containers.map((c) => c.id),
        [quitter],
      );
      const byLabel = await rt.cri.ListContainers({
        filter: { labelSelector: { 'io.kubernetes.pod.uid': pod.uid, 'io.kubernetes.container.name': 'runner' } },
      });
      assert.deepEqual(
        byLabel.containers.map((c) => c.id),
        [runner],
      );
      const byId = await rt.cri.ListContainers({ filter: { id: quitter } });
      assert.equal(byId.containers.length, 1);
      const c = byId.containers[0];
      assert.equal(c?.podSandboxId, sb);
      assert.equal(c?.metadata?.name, 'quitter');
      assert.equal(c?.image?.image, rt.busybox);
      assert.match(c?.imageRef ?? '', /sha256:[0-9a-f]{64}/);
      assert.ok((c?.createdAt ?? 0) > 0);
      assert.equal(c?.labels['io.kubernetes.container.name'], 'quitter');
    });

    it('writes CRI-format log lines to the requested log path', async () => {
      const pod = newPod('log');
      const sb = await runSandbox(pod);
      const id = await startContainer(pod, sb, 'talker', ['sh', '-c', 'echo hello; echo oops >&2']);
      const st = await exited(id);
      const text = await waitFor('log lines', async () => {
        const t = await readFile(st.logPath, 'utf8').catch(() => '');
        return t.includes('hello') && t.includes('oops') ? t : undefined;
      });
      const lines = text.trim().split('\n');
      const re = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)) (stdout|stderr) (F|P) (.*)$/;
      for (const line of lines) assert.match(line, re);
      assert.ok(
        lines.some((l) => / stdout F hello$/.test(l)),
        'stdout line',
      );
      assert.ok(
        lines.some((l) => / stderr F oops$/.test(l)),
        'stderr line',
      );
    });

    it('answers ExecSync with output and exit code', async () => {
      const pod = newPod('ex');
      const sb = await runSandbox(pod);
      const id = await startContainer(pod, sb, 'app', ['sleep', '3600']);
      const ok = await rt.cri.ExecSync({ containerId: id, cmd: ['echo', 'hi'], timeout: 10 });
      assert.equal(ok.exitCode, 0);
      assert.equal(ok.stdout.toString(), 'hi\n');
      const bad = await rt.cri.ExecSync({ containerId: id, cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'], timeout: 10 });
      assert.equal(bad.exitCode, 3);
      assert.equal(bad.stdout.toString(), 'out\n');
      assert.equal(bad.stderr.toString(), 'err\n');
      await rejectsWith(rt.cri.ExecSync({ containerId: NO_SUCH_ID, cmd: ['true'], timeout: 5 }), CriNotFoundError, 'exec in an unknown container');
    });

    it('stops the containers of a stopped sandbox and removes them with it', async () => {
      const pod = newPod('rm');
      const sb = await runSandbox(pod);
      const id = await startContainer(pod, sb, 'app', ['sleep', '3600']);
      await rt.cri.StopPodSandbox({ podSandboxId: sb });
      const st = await rt.cri.ContainerStatus({ containerId: id, verbose: false });
      assert.equal(st.status?.state, 'CONTAINER_EXITED', 'stopping the sandbox stops its containers');
      await rt.cri.RemovePodSandbox({ podSandboxId: sb });
      await rejectsWith(rt.cri.ContainerStatus({ containerId: id, verbose: false }), CriNotFoundError, 'a container removed with its sandbox');
      const list = await rt.cri.ListContainers({ filter: { podSandboxId: sb } });
      assert.equal(list.containers.length, 0);
    });

    it('removes a stopped container', async () => {
      const pod = newPod('rc');
      const sb = await runSandbox(pod);
      const id = await startContainer(pod, sb, 'app', ['true']);
      await exited(id);
      await rt.cri.RemoveContainer({ containerId: id });
      await rejectsWith(rt.cri.ContainerStatus({ containerId: id, verbose: false }), CriNotFoundError, 'a removed container');
      // Idempotent, as the kubelet's container GC expects.
      await rt.cri.RemoveContainer({ containerId: id });
    });

    it('lists and inspects images', async () => {
      const list = await rt.cri.ListImages({});
      const img = list.images.find((i) => i.repoTags.includes(rt.busybox));
      assert.ok(img, `${rt.busybox} is listed`);
      assert.match(img.id, /^sha256:[0-9a-f]{64}$/);
      assert.ok(img.size > 0, 'size');
      const st = await rt.cri.ImageStatus({ image: { image: rt.busybox }, verbose: false });
      assert.equal(st.image?.id, img.id);
      const missing = await rt.cri.ImageStatus({ image: { image: 'example.invalid/nothing:here' }, verbose: false });
      assert.equal(missing.image, null, 'an unknown image has no status and is no error');
      const fs = await rt.cri.ImageFsInfo({});
      assert.ok(fs.imageFilesystems.length > 0, 'an image filesystem');
      assert.ok((fs.imageFilesystems[0]?.fsId?.mountpoint ?? '').length > 0, 'its mountpoint');
    });

    it('gives NotFound for unknown sandbox and container IDs', async () => {
      await rejectsWith(rt.cri.PodSandboxStatus({ podSandboxId: NO_SUCH_ID, verbose: false }), CriNotFoundError, 'PodSandboxStatus');
      await rejectsWith(rt.cri.ContainerStatus({ containerId: NO_SUCH_ID, verbose: false }), CriNotFoundError, 'ContainerStatus');
      await rejectsWith(rt.cri.StartContainer({ containerId: NO_SUCH_ID }), CriNotFoundError, 'StartContainer');
      await rejectsWith(rt.cri.StopContainer({ containerId: NO_SUCH_ID, timeout: 0 }), CriNotFoundError, 'StopContainer');
      const pod = newPod('nf');
      await rejectsWith(
        rt.cri.CreateContainer({
          podSandboxId: NO_SUCH_ID,
          config: containerConfig(pod, 'x', rt.busybox, ['true']),
          sandboxConfig: sandboxConfig(pod, rt.logRoot),
        }),
        CriNotFoundError,
        'CreateContainer in an unknown sandbox',
      );
    });

    // containerd answers a missing metadata with gRPC Unknown (not InvalidArgument) and this text.
    it('refuses a sandbox request without metadata with a clear error', async () => {
      const err = await rejectsWith(rt.cri.RunPodSandbox({ config: { hostname: 'x' } }), CriRuntimeError, 'RunPodSandbox without metadata');
      assert.match(err.message, /sandbox config must include metadata/);
    });

    // ---- Edge cases: what containerd 1.6.20 answers, verified against it (the sim must match). ----

    // containerd reserves the name "<name>_<namespace>_<uid>_<attempt>"; a second sandbox with the
    // same metadata fails with gRPC Unknown (not AlreadyExists), naming the sandbox holding it.
    it('refuses a second sandbox with the same metadata, naming the sandbox that holds the name', async () => {
      const pod = newPod('dup');
      const id = await runSandbox(pod);
      const err = await rejectsWith(rt.cri.RunPodSandbox({ config: sandboxConfig(pod, rt.logRoot) }), CriRuntimeError, 'the same sandbox metadata twice');
      assert.match(err.message, new RegExp(`failed to reserve sandbox name .*is reserved for "${id}"`));
      // A new attempt is a new name.
      const again = await runSandbox({ ...pod, attempt: 1 });
      assert.notEqual(again, id);
    });

    // Removing what does not exist succeeds (the kubelet's GC relies on it); stopping it or
    // asking for its stats is NotFound. Unknown image removal also succeeds.
    it('is lenient about removing unknown objects and strict about stopping or inspecting them', async () => {
      await rejectsWith(rt.cri.StopPodSandbox({ podSandboxId: NO_SUCH_ID }), CriNotFoundError, 'StopPodSandbox of an unknown ID');
      await rt.cri.RemovePodSandbox({ podSandboxId: NO_SUCH_ID });
      await rt.cri.RemoveContainer({ containerId: NO_SUCH_ID });
      await rejectsWith(rt.cri.ContainerStats({ containerId: NO_SUCH_ID }), CriNotFoundError, 'ContainerStats of an unknown ID');
      await rt.cri.RemoveImage({ image: { image: 'example.invalid/nothing:here' } });
      assert.deepEqual((await rt.cri.ListContainers({ filter: { podSandboxId: NO_SUCH_ID } })).containers, []);
      assert.deepEqual((await rt.cri.ListPodSandbox({ filter: { id: NO_SUCH_ID } })).items, []);
    });

    // containerd 1.6.20 stops a ready sandbox itself when asked to remove it: no error, and its
    // containers (even running ones) go with it.
    it('removes a ready sandbox with a running container in one call', async () => {
      const pod = newPod('rmr');
      const sb = await runSandbox(pod);
      const id = await startContainer(pod, sb, 'app', ['sleep', '3600']);
      await rt.cri.RemovePodSandbox({ podSandboxId: sb });
      await rejectsWith(rt.cri.PodSandboxStatus({ podSandboxId: sb, verbose: false }), CriNotFoundError, 'the removed ready sandbox');
      await rejectsWith(rt.cri.ContainerStatus({ containerId: id, verbose: false }), CriNotFoundError, 'the running container of a removed sandbox');
    });

    // RemoveContainer on a running container kills it first (no FailedPrecondition).
    it('removes a running container', async () => {
      const pod = newPod('rmc');
      const sb = await runSandbox(pod);
      const id = await startContainer(pod, sb, 'app', ['sleep', '3600']);
      await rt.cri.RemoveContainer({ containerId: id });
      await rejectsWith(rt.cri.ContainerStatus({ containerId: id, verbose: false }), CriNotFoundError, 'a removed running container');
    });

    // A failed start is an error of StartContainer (gRPC Unknown, runc's words), and it leaves the
    // container EXITED with exit code 128, reason "StartError", runc's error as the message and
    // startedAt 0. (The sim is told the failure by an annotation; containerd ignores it.)
    it('leaves a container whose start fails exited with 128 and StartError', async () => {
      const pod = newPod('sfail');
      const sb = await runSandbox(pod);
      const { containerId } = await rt.cri.CreateContainer({
        podSandboxId: sb,
        config: containerConfig(pod, 'app', rt.busybox, ['/no/such/binary'], {
          annotations: { 'sim.kubelet-ts.io/start-error': 'exec: "/no/such/binary": stat /no/such/binary: no such file or directory' },
        }),
        sandboxConfig: sandboxConfig(pod, rt.logRoot),
      });
      const err = await rejectsWith(rt.cri.StartContainer({ containerId }), CriRuntimeError, 'start of a missing binary');
      assert.match(err.message, /no such file or directory/);
      const { status } = await rt.cri.ContainerStatus({ containerId, verbose: false });
      assert.equal(status?.state, 'CONTAINER_EXITED');
      assert.equal(status?.exitCode, 128);
      assert.equal(status?.reason, 'StartError');
      assert.match(status?.message ?? '', /\/no\/such\/binary.*no such file or directory/);
      assert.equal(status?.startedAt, 0, 'never started');
      assert.ok((status?.finishedAt ?? 0) > 0, 'finishedAt set');
      // An exited container cannot be started again (Unknown, naming its state).
      const again = await rejectsWith(rt.cri.StartContainer({ containerId }), CriRuntimeError, 'start of an exited container');
      assert.match(again.message, /CONTAINER_EXITED/);
    });

    it('refuses to start a running container and to exec in an exited one, naming the state', async () => {
      const pod = newPod('st');
      const sb = await runSandbox(pod);
      const id = await startContainer(pod, sb, 'app', ['sleep', '3600']);
      const twice = await rejectsWith(rt.cri.StartContainer({ containerId: id }), CriRuntimeError, 'second StartContainer');
      assert.match(twice.message, /container is in CONTAINER_RUNNING state/);
      await rt.cri.StopContainer({ containerId: id, timeout: 0 });
      const ex = await rejectsWith(rt.cri.ExecSync({ containerId: id, cmd: ['true'], timeout: 5 }), CriRuntimeError, 'exec in an exited container');
      assert.match(ex.message, /container is in CONTAINER_EXITED state/);
      // Stopping an exited container is a no-op.
      await rt.cri.StopContainer({ containerId: id, timeout: 0 });
    });

    // busybox as PID 1 has no SIGTERM handler, so the kernel drops SIGTERM: StopContainer waits
    // the whole timeout, then SIGKILLs (137, reason "Error", not "Completed"). A script that traps
    // TERM exits at once with its own code; any non-zero code is reason "Error".
    it('stops a container: SIGTERM ignored by PID 1 waits the timeout then kills; a trap exits by its code', async () => {
      const pod = newPod('stop');
      const sb = await runSandbox(pod);
      const deaf = await startContainer(pod, sb, 'deaf', ['sleep', '3600']);
      const trapper = await startContainer(pod, sb, 'trapper', ['sh', '-c', 'trap "exit 7" TERM; while true; do sleep 0.1; done']);
      await new Promise((r) => setTimeout(r, 300)); // let the shell install its trap
      let t0 = Date.now();
      await rt.cri.StopContainer({ containerId: deaf, timeout: 1 });
      const deafMs = Date.now() - t0;
      assert.ok(deafMs >= 900, `StopContainer waited the 1 s timeout (took ${deafMs} ms)`);
      const d = await exited(deaf);
      assert.deepEqual([d.exitCode, d.reason], [137, 'Error']);
      t0 = Date.now();
      await rt.cri.StopContainer({ containerId: trapper, timeout: 10 });
      const trapMs = Date.now() - t0;
      assert.ok(trapMs < 5000, `a trapped TERM ends it without waiting the timeout (took ${trapMs} ms)`);
      const t = await exited(trapper);
      assert.deepEqual([t.exitCode, t.reason], [7, 'Error']);
    });

    // The OOM killer's victim: exit 137, reason "OOMKilled". (Real memory pressure under a 16 MiB
    // limit for containerd; the sim is told by an annotation.)
    it('reports OOMKilled', async () => {
      const pod = newPod('oom');
      const sb = await runSandbox(pod);
      const cfg = containerConfig(pod, 'hog', rt.busybox, ['sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo ${#x}'], {
        annotations: { 'sim.kubelet-ts.io/oom-after-seconds': '0.2' },
      });
      cfg.linux = { ...cfg.linux, resources: { cpuShares: 2, memoryLimitInBytes: 16 * 1024 * 1024, oomScoreAdj: 1000 } };
      const { containerId } = await rt.cri.CreateContainer({ podSandboxId: sb, config: cfg, sandboxConfig: sandboxConfig(pod, rt.logRoot) });
      await rt.cri.StartContainer({ containerId });
      const st = await exited(containerId, 30_000);
      assert.deepEqual([st.exitCode, st.reason], [137, 'OOMKilled']);
    });

    // containerd does not read terminationMessagePath (the kubelet does): message stays empty.
    it('leaves the termination message to the kubelet', async () => {
      const pod = newPod('tm');
      const sb = await runSandbox(pod);
      const id = await startContainer(pod, sb, 'app', ['sh', '-c', 'echo bye > /dev/termination-log; exit 2']);
      const st = await exited(id);
      assert.deepEqual([st.exitCode, st.reason, st.message], [2, 'Error', '']);
    });

    // A stopped sandbox has released its network: PodSandboxStatus shows ip "" (not the old IP),
    // and CreateContainer in it is NotFound ("no running task found" for the sandbox).
    it('releases the pod IP when the sandbox stops and refuses new containers in it', async () => {
      const pod = newPod('net');
      const sb = await runSandbox(pod);
      const ready = await rt.cri.PodSandboxStatus({ podSandboxId: sb, verbose: false });
      assert.match(ready.status?.network?.ip ?? '', /^\d+\.\d+\.\d+\.\d+$/);
      await rt.cri.StopPodSandbox({ podSandboxId: sb });
      const stopped = await rt.cri.PodSandboxStatus({ podSandboxId: sb, verbose: false });
      assert.equal(stopped.status?.network?.ip, '', 'no IP once stopped');
      assert.deepEqual(stopped.status?.network?.additionalIps, []);
      assert.deepEqual(stopped.status?.metadata?.uid, pod.uid, 'metadata still there');
      await rejectsWith(
        rt.cri.CreateContainer({ podSandboxId: sb, config: containerConfig(pod, 'late', rt.busybox, ['true']), sandboxConfig: sandboxConfig(pod, rt.logRoot) }),
        CriNotFoundError,
        'CreateContainer in a stopped sandbox',
      );
    });

    // Short names are normalized as docker does: "busybox:1.35" is docker.io/library/busybox:1.35,
    // and a bare name means :latest.
    it('resolves short image names under docker.io/library', async () => {
      const full = await rt.cri.ImageStatus({ image: { image: rt.busybox }, verbose: false });
      const short = await rt.cri.ImageStatus({ image: { image: rt.busybox.replace(/^docker\.io\/library\//, '') }, verbose: false });
      assert.ok(full.image, 'the image by its full name');
      assert.equal(short.image?.id, full.image.id);
      const bare = await rt.cri.ImageStatus({ image: { image: 'busybox' }, verbose: false });
      assert.ok(bare.image?.repoTags.includes('docker.io/library/busybox:latest'), 'busybox means busybox:latest');
    });

    // ExecSync past its timeout: containerd 1.6 answers gRPC DeadlineExceeded ("failed to exec in
    // container: timeout 1s exceeded: context deadline exceeded"), not an exit code.
    it('fails an ExecSync that outlives its timeout with DeadlineExceeded', async () => {
      const pod = newPod('ext');
      const sb = await runSandbox(pod);
      const id = await startContainer(pod, sb, 'app', ['sleep', '3600']);
      const t0 = Date.now();
      const err = await rejectsWith(rt.cri.ExecSync({ containerId: id, cmd: ['sleep', '30'], timeout: 1 }), CriDeadlineError, 'ExecSync past its timeout');
      const ms = Date.now() - t0;
      assert.ok(ms >= 900 && ms < 15_000, `failed after about the timeout (${ms} ms)`);
      assert.match(err.message, /timeout 1s exceeded/);
    });
  });
}
