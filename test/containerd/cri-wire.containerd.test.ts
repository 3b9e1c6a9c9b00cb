// Proves our proto is wire-compatible with a real runtime: every RPC of RuntimeService and
// ImageService is called against containerd, and each answer is decoded with our definitions
// and checked on fields that a wrong name or number would lose or garble. PullImage pulls from a
// real registry (Debian's docker-registry) on loopback.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectCri, CriUnimplementedError, type CriClient } from '../../src/native/cri/index.js';
import { buildImages, ensureImages } from '../../src/native/containerd/index.js';
import { ALL_RPCS, type RpcName } from '../../src/native/cri/api.js';
import { containerConfig, newPod, sandboxConfig, waitFor } from '../helpers/cri-fixtures.js';
import { freePort } from '../helpers/net.js';
import { startTestContainerd, type ContainerdFixture } from '../helpers/containerd-fixture.js';

const run = promisify(execFile);

function ipv4(a: string): number {
  const parts = a.split('.').map(Number);
  assert.equal(parts.length, 4, `${a} is an IPv4 address`);
  return parts.reduce((n, p) => n * 256 + p, 0);
}

function inSubnet(ip: string, cidr: string): boolean {
  const [net = '', bits = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const base = ipv4(net);
  const x = ipv4(ip);
  return x > base && x < base + size - 1;
}

describe('CRI wire compatibility with containerd', () => {
  let fx: ContainerdFixture;
  let cri: CriClient;
  let registry: ChildProcess;
  let registryHost: string;
  let dir: string;
  const called = new Set<RpcName>();
  const mark = (rpc: RpcName): void => void called.add(rpc);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kts-wire-'));
    const port = await freePort();
    registryHost = `127.0.0.1:${port}`;
    writeFileSync(
      join(dir, 'registry.yml'),
      `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'registry')}\nhttp:\n  addr: ${registryHost}\n`,
    );
    registry = spawn('docker-registry', ['serve', join(dir, 'registry.yml')], { stdio: 'ignore' });
    registry.once('error', (err) => assert.fail(`docker-registry cannot run (apt-get install docker-registry): ${err.message}`));
    const images = await buildImages();
    const busybox = images.find((i) => i.name.includes('busybox'));
    assert.ok(busybox, 'busybox archive built');
    await waitFor(
      'registry up',
      async () => {
        try {
          await run('skopeo', [
            'copy',
            '--quiet',
            '--dest-tls-verify=false',
            `oci-archive:${busybox.archive}:1.35`,
            `docker://${registryHost}/kts/busybox:wire`,
          ]);
          return true;
        } catch {
          return undefined;
        }
      },
      20_000,
      300,
    );
    fx = await startTestContainerd({ insecureRegistries: [registryHost] });
    cri = connectCri(fx.containerd.endpoint, { runtimeRequestTimeoutMs: 60_000 });
  });

  after(async () => {
    cri?.close();
    await fx?.close();
    registry?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  it('decodes every RPC answer with the expected fields', async () => {
    const v = await cri.Version({ version: 'v1' });
    mark('Version');
    assert.equal(v.runtimeName, 'containerd');
    assert.equal(v.runtimeApiVersion, 'v1');
    assert.match(v.runtimeVersion, /^1\.6\./);
    assert.equal(v.version, '0.1.0');

    const st = await cri.Status({ verbose: true });
    mark('Status');
    const conds = Object.fromEntries((st.status?.conditions ?? []).map((c) => [c.type, c.status]));
    assert.deepEqual(conds, { RuntimeReady: true, NetworkReady: true });
    assert.ok(Object.keys(st.info).length > 0, 'verbose info map decoded');

    await cri.UpdateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: '10.244.0.0/24' } } });
    mark('UpdateRuntimeConfig');

    const imgs = await cri.ListImages({});
    mark('ListImages');
    const bb = imgs.images.find((i) => i.repoTags.includes(fx.busybox));
    assert.ok(bb, 'busybox listed with its repo tag');
    assert.match(bb.id, /^sha256:[0-9a-f]{64}$/);
    assert.ok(bb.size > 100_000, `image size decoded (${bb.size})`);
    assert.equal(bb.uid?.value ?? 0, 0, 'no uid in the image config');

    const is = await cri.ImageStatus({ image: { image: fx.busybox }, verbose: false });
    mark('ImageStatus');
    assert.equal(is.image?.id, bb.id);
    assert.ok(is.image?.repoTags.includes(fx.busybox));

    const fs = await cri.ImageFsInfo({});
    mark('ImageFsInfo');
    assert.ok((fs.imageFilesystems[0]?.fsId?.mountpoint ?? '').includes('overlayfs'), JSON.stringify(fs.imageFilesystems[0]));
    // Usage is sampled by containerd every few seconds (0 just after start); the wrappers must be there.
    assert.equal(typeof fs.imageFilesystems[0]?.usedBytes?.value, 'number');
    assert.equal(typeof fs.imageFilesystems[0]?.inodesUsed?.value, 'number');
    assert.ok((fs.imageFilesystems[0]?.timestamp ?? 0) > 1e18, 'timestamp in ns');

    const pulled = await cri.PullImage({ image: { image: `${registryHost}/kts/busybox:wire` } });
    mark('PullImage');
    assert.match(pulled.imageRef, /^sha256:[0-9a-f]{64}$/);

    const pod = newPod('wire');
    const logRoot = join(dir, 'logs');
    const config = sandboxConfig(pod, logRoot, { labels: { probe: 'wire' }, annotations: { 'wire/a': 'b' } });
    const { podSandboxId } = await cri.RunPodSandbox({ config });
    mark('RunPodSandbox');
    assert.match(podSandboxId, /^[0-9a-f]{64}$/);

    const ps = await cri.PodSandboxStatus({ podSandboxId, verbose: false });
    mark('PodSandboxStatus');
    assert.equal(ps.status?.id, podSandboxId);
    assert.equal(ps.status?.state, 'SANDBOX_READY');
    assert.deepEqual(ps.status?.metadata, { name: pod.name, uid: pod.uid, namespace: pod.namespace, attempt: 0 });
    assert.equal(ps.status?.labels['probe'], 'wire');
    assert.equal(ps.status?.annotations['wire/a'], 'b');
    assert.ok(inSubnet(ps.status?.network?.ip ?? '', fx.podSubnet), `pod IP ${ps.status?.network?.ip} inside ${fx.podSubnet}`);
    assert.equal(ps.status?.linux?.namespaces?.options?.network, 'POD');
    assert.ok(Math.abs((ps.status?.createdAt ?? 0) / 1e6 - Date.now()) < 120_000, 'createdAt is ns since the epoch');

    const lps = await cri.ListPodSandbox({ filter: { labelSelector: { probe: 'wire' } } });
    mark('ListPodSandbox');
    assert.deepEqual(
      lps.items.map((s) => s.id),
      [podSandboxId],
    );

    const cc = containerConfig(pod, 'app', `${registryHost}/kts/busybox:wire`, ['sh', '-c', 'echo wire-out; sleep 3600']);
    const { containerId } = await cri.CreateContainer({ podSandboxId, config: cc, sandboxConfig: config });
    mark('CreateContainer');
    await cri.StartContainer({ containerId });
    mark('StartContainer');

    const cs = await cri.ContainerStatus({ containerId, verbose: false });
    mark('ContainerStatus');
    assert.equal(cs.status?.state, 'CONTAINER_RUNNING');
    assert.equal(cs.status?.metadata?.name, 'app');
    assert.equal(cs.status?.image?.image, `${registryHost}/kts/busybox:wire`);
    // PullImage answers the image ID, but ContainerStatus.imageRef is the repo digest of a pulled
    // image (name@sha256:manifest digest), as ImageStatus lists in repoDigests.
    const pulledStatus = await cri.ImageStatus({ image: { image: `${registryHost}/kts/busybox:wire` }, verbose: false });
    assert.equal(pulledStatus.image?.id, pulled.imageRef);
    assert.match(pulledStatus.image?.repoDigests[0] ?? '', new RegExp(`^${registryHost}/kts/busybox@sha256:[0-9a-f]{64}$`));
    assert.equal(cs.status?.imageRef, pulledStatus.image?.repoDigests[0]);
    assert.equal(cs.status?.logPath, `${config.logDirectory}/app/0.log`);
    assert.ok((cs.status?.startedAt ?? 0) >= (cs.status?.createdAt ?? 0));
    assert.equal(cs.status?.labels['io.kubernetes.container.name'], 'app');
    assert.equal(cs.status?.annotations['io.kubernetes.container.restartCount'], '0');

    const lc = await cri.ListContainers({ filter: { podSandboxId } });
    mark('ListContainers');
    assert.deepEqual(
      lc.containers.map((c) => [c.id, c.podSandboxId, c.state]),
      [[containerId, podSandboxId, 'CONTAINER_RUNNING']],
    );

    await cri.UpdateContainerResources({ containerId, linux: { cpuShares: 512, memoryLimitInBytes: 64 * 1024 * 1024 } });
    mark('UpdateContainerResources');

    const ex = await cri.ExecSync({ containerId, cmd: ['sh', '-c', 'echo out; echo err >&2; exit 4'], timeout: 10 });
    mark('ExecSync');
    assert.equal(Buffer.from(ex.stdout).toString(), 'out\n');
    assert.equal(Buffer.from(ex.stderr).toString(), 'err\n');
    assert.equal(ex.exitCode, 4);

    for (const [rpc, res] of [
      ['Exec', await cri.Exec({ containerId, cmd: ['sh'], stdin: true, stdout: true, stderr: false, tty: true })],
      ['Attach', await cri.Attach({ containerId, stdin: false, stdout: true, stderr: true, tty: false })],
      ['PortForward', await cri.PortForward({ podSandboxId, port: [80] })],
    ] as const) {
      mark(rpc);
      assert.match(res.url, /^http:\/\/127\.0\.0\.1:\d+\/(exec|attach|portforward)\/\S+$/, `${rpc} url`);
    }

    await cri.ReopenContainerLog({ containerId });
    mark('ReopenContainerLog');

    const stats = await waitFor('container stats', async () => {
      const s = await cri.ContainerStats({ containerId });
      return (s.stats?.cpu?.usageCoreNanoSeconds?.value ?? 0) > 0 ? s : undefined;
    });
    mark('ContainerStats');
    assert.equal(stats.stats?.attributes?.id, containerId);
    assert.equal(stats.stats?.attributes?.metadata?.name, 'app');
    assert.ok((stats.stats?.memory?.workingSetBytes?.value ?? 0) > 0, 'memory working set decoded');
    assert.ok((stats.stats?.cpu?.timestamp ?? 0) > 1e18);

    const lcs = await cri.ListContainerStats({ filter: { podSandboxId } });
    mark('ListContainerStats');
    assert.deepEqual(
      lcs.stats.map((s) => s.attributes?.id),
      [containerId],
    );

    await cri.StopContainer({ containerId, timeout: 0 });
    mark('StopContainer');
    const stopped = await cri.ContainerStatus({ containerId, verbose: false });
    assert.equal(stopped.status?.state, 'CONTAINER_EXITED');
    assert.equal(stopped.status?.exitCode, 137);
    assert.ok((stopped.status?.finishedAt ?? 0) > (stopped.status?.startedAt ?? 0));

    await cri.RemoveContainer({ containerId });
    mark('RemoveContainer');
    await cri.StopPodSandbox({ podSandboxId });
    mark('StopPodSandbox');
    await cri.RemovePodSandbox({ podSandboxId });
    mark('RemovePodSandbox');

    await cri.RemoveImage({ image: { image: `${registryHost}/kts/busybox:wire` } });
    mark('RemoveImage');
    const gone = await cri.ImageStatus({ image: { image: `${registryHost}/kts/busybox:wire` }, verbose: false });
    assert.equal(gone.image, null, 'a removed image has no status');
    // Surprise: containerd's RemoveImage resolves the reference to the image ID and deletes every
    // name of that ID. The pulled image has the same config digest as the imported busybox, so
    // busybox:1.35 and :latest are gone too.
    assert.equal(pulled.imageRef, bb.id, 'the pushed and pulled busybox is the same image ID');
    const after = await cri.ListImages({});
    assert.equal(
      after.images.some((i) => i.id === bb.id),
      false,
      'every tag of the removed ID is gone',
    );
    assert.equal((await cri.ImageStatus({ image: { image: fx.busybox }, verbose: false })).image, null, `${fx.busybox} went with it`);
    await ensureImages({ endpoint: fx.containerd.endpoint });

    assert.deepEqual(
      ALL_RPCS.filter((r) => !called.has(r)),
      [],
      'every RPC was called',
    );
  });

  it('answers GetContainerEvents with Unimplemented (containerd 1.6 predates it), so the PLEG relists', async () => {
    // The stream's path is runtime.v1.RuntimeService/GetContainerEvents; containerd 1.7 serves it.
    // 1.6 does not know the method: the client ends the stream with CriUnimplementedError, which
    // is the PLEG's cue to relist every second. Unary calls on the connection are unaffected.
    const err = await new Promise<Error | undefined>((resolve) => {
      cri.GetContainerEvents({ event: () => assert.fail('containerd 1.6 sends no events'), end: resolve });
    });
    assert.ok(err instanceof CriUnimplementedError, `got ${String(err)}`);
    assert.match(err.message, /get_container_events failed \(UNIMPLEMENTED\)/);
    assert.equal((await cri.Version({ version: 'v1' })).runtimeName, 'containerd');
  });

  it('answers the v1alpha2 API too', async () => {
    const old = connectCri(fx.containerd.endpoint, { apiVersion: 'v1alpha2' });
    try {
      const v = await old.Version({ version: 'v1alpha2' });
      assert.equal(v.runtimeName, 'containerd');
      assert.equal(v.runtimeApiVersion, 'v1alpha2');
      const st = await old.Status({ verbose: false });
      assert.deepEqual(Object.fromEntries((st.status?.conditions ?? []).map((c) => [c.type, c.status])), { RuntimeReady: true, NetworkReady: true });
      const imgs = await old.ListImages({});
      assert.ok(
        imgs.images.some((i) => i.repoTags.includes(fx.busybox) && i.size > 100_000),
        'busybox listed over v1alpha2',
      );
      // A sandbox round trip over v1alpha2: its metadata and IP decode as over v1.
      const pod = newPod('alpha');
      const { podSandboxId } = await old.RunPodSandbox({ config: sandboxConfig(pod, join(dir, 'logs-alpha')) });
      try {
        const ps = await old.PodSandboxStatus({ podSandboxId, verbose: false });
        assert.deepEqual(ps.status?.metadata, { name: pod.name, uid: pod.uid, namespace: pod.namespace, attempt: 0 });
        assert.ok(inSubnet(ps.status?.network?.ip ?? '', fx.podSubnet), `pod IP inside ${fx.podSubnet}`);
      } finally {
        await old.StopPodSandbox({ podSandboxId });
        await old.RemovePodSandbox({ podSandboxId });
      }
    } finally {
      old.close();
    }
  });
});
