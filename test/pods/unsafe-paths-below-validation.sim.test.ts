// Issue 16, finding 3, below validation: the layers a hostile pod reaches when validation is
// bypassed (an API pod, a bug upstream of them) still refuse to build a host path outside their
// base. The volume manager, the sync on the simulated runtime, the managed hosts file, the
// termination-message files, the log and cgroup paths, and the simulated runtime itself, each
// called directly with an unsafe UID, name or subPath. Also the subPath check at time of use: a
// symlink the container plants in its volume after the volume manager looked.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from '../../src/api/core-v1.js';
import type { CriClient } from '../../src/native/cri/client.js';
import { Backoff } from '../../src/pods/backoff.js';
import { ensureEtcHosts } from '../../src/pods/container-setup.js';
import { podLogDirectory, sandboxConfigFor } from '../../src/pods/cri-config.js';
import { podCgroupParent } from '../../src/pods/resources.js';
import { seccompFor } from '../../src/pods/security-context.js';
import { applyPodDefaults } from '../../src/pods/static-pod.js';
import { executeSync, inspectPod, planSync, type SyncContext } from '../../src/pods/sync.js';
import { terminationMessageMount } from '../../src/pods/termination-message.js';
import { SimRuntime, createSimClient } from '../../src/sim/index.js';
import { UnsafePathError } from '../../src/util/safe-path.js';
import type { Mounter } from '../../src/volumes/mounter.js';
import type { PodVolumes } from '../../src/volumes/mounts.js';
import { VolumeManager } from '../../src/volumes/volume-manager.js';

/** No tmpfs here: these volumes are emptyDirs on disk. */
const noMounts: Mounter = { mountTmpfs: () => Promise.resolve(), unmount: () => Promise.resolve(), mountPointsUnder: () => Promise.resolve([]) };

const isUnsafe =
  (pattern: RegExp) =>
  (err: unknown): boolean => {
    assert.ok(err instanceof UnsafePathError, `an UnsafePathError, got ${String(err)}`);
    assert.equal(err.code, 'KTS_UNSAFE_PATH');
    assert.match(err.message, pattern);
    return true;
  };

let seq = 0;
function hostilePod(uid: string, extra: Partial<Pod['spec']> = {}): Pod {
  const p: Pod = {
    metadata: { name: `p${++seq}`, namespace: 'default', uid },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: 'busybox:1.35', command: ['sleep', '3600'] }], ...extra },
  };
  applyPodDefaults(p);
  return p;
}

describe('unsafe pod paths below validation (issue 16, finding 3)', () => {
  let dir: string;
  let root: string;
  let logs: string;
  let victims: string;
  let sim: SimRuntime;
  let cri: CriClient;
  let vm: VolumeManager;
  let ctx: SyncContext;
  const escapeTo = (abs: string): string => `/${'../'.repeat(16)}${abs.slice(1)}`;
  const sandboxOpts = () => ({ attempt: 0, rootDir: root, podsDir: join(root, 'pods'), podLogsDir: logs });

  before(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'kts-below-validation-')));
    root = join(dir, 'root');
    logs = join(dir, 'logs');
    victims = join(dir, 'victims');
    mkdirSync(join(root, 'pods'), { recursive: true });
    mkdirSync(logs);
    mkdirSync(victims);
    sim = new SimRuntime({ seed: 3 });
    cri = createSimClient(sim);
    vm = new VolumeManager({ rootDir: root, mounter: noMounts, memoryBackedSecrets: false });
    ctx = { now: Date.now(), crashBackoff: new Backoff(10_000, 300_000), pullBackoff: new Backoff(10_000, 300_000) };
  });

  after(async () => {
    cri.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the volume manager refuses to set up a pod whose uid leaves the pods folder', async () => {
    const victim = join(victims, 'setup');
    const r = await vm.setUp(hostilePod(escapeTo(victim), { volumes: [{ name: 'scratch', emptyDir: {} }] }));
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0]?.code, 'KTS_UNSAFE_PATH');
    assert.match(r.errors[0]?.message ?? '', /must not contain '\/'/);
    assert.deepEqual(vm.known(), [], 'not registered: no refresh, no tear-down of its folder');
    assert.equal(existsSync(victim), false);
  });

  it('the volume manager refuses a volume name that is no plain component', async () => {
    const r = await vm.setUp(hostilePod('uid-volname', { volumes: [{ name: '../../../victims/vol', emptyDir: {} }] }));
    assert.equal(r.errors[0]?.code, 'KTS_UNSAFE_PATH');
    assert.match(r.errors[0]?.message ?? '', /^MountVolume\.SetUp failed for volume "\.\.\/\.\.\/\.\.\/victims\/vol" : unsafe volume name /);
    assert.deepEqual(readdirSync(victims), []);
    await vm.tearDown('uid-volname');
  });

  it('tearDown of an unsafe uid removes nothing (the recursive delete of finding 3)', async () => {
    const victim = join(victims, 'teardown');
    mkdirSync(join(victim, 'volumes', 'data'), { recursive: true });
    mkdirSync(join(victim, 'containers'), { recursive: true });
    writeFileSync(join(victim, 'volumes', 'data', 'precious'), 'keep');
    writeFileSync(join(victim, 'containers', 'notes'), 'keep');
    await assert.rejects(vm.tearDown(escapeTo(victim)), isUnsafe(/unsafe pod uid .*must not contain '\/'/));
    await assert.rejects(vm.tearDown('..'), isUnsafe(/must not be '\.\.'/));
    assert.equal(readFileSync(join(victim, 'volumes', 'data', 'precious'), 'utf8'), 'keep');
    assert.equal(readFileSync(join(victim, 'containers', 'notes'), 'utf8'), 'keep');
  });

  it('executeSync refuses the sandbox of an unsafe uid: no sandbox, no file outside', async () => {
    const victim = join(victims, 'sync');
    const p = hostilePod(escapeTo(victim));
    const plan = planSync(p, await inspectPod(cri, p.metadata.uid!, 'sim'), ctx);
    const result = await executeSync(cri, p, plan, sandboxOpts());
    assert.match(result.sandboxError ?? '', /^Failed to create pod sandbox config: unsafe pod uid /);
    assert.deepEqual(result.started, []);
    assert.equal((await cri.ListPodSandbox({})).items.filter((s) => s.metadata?.uid === p.metadata.uid).length, 0);
    assert.equal(existsSync(victim), false);
    assert.deepEqual(readdirSync(logs), []);
  });

  it('the hosts file, termination-message files, log folder and cgroup refuse unsafe values', async () => {
    const victim = join(victims, 'parts');
    const p = hostilePod(escapeTo(victim));
    assert.equal(await ensureEtcHosts(p, 'sandbox-id', ['10.0.0.1'], sandboxOpts()), undefined);
    await assert.rejects(terminationMessageMount(join(root, 'pods'), p.metadata.uid!, { name: 'app' }), isUnsafe(/unsafe pod uid/));
    await assert.rejects(terminationMessageMount(join(root, 'pods'), 'uid-ok', { name: '../../../victims/parts' }), isUnsafe(/unsafe container name/));
    assert.throws(() => podLogDirectory(p, logs), isUnsafe(/unsafe pod uid/));
    assert.throws(() => podLogDirectory({ ...p, metadata: { ...p.metadata, uid: 'u', name: '../x' } }, logs), isUnsafe(/unsafe pod name/));
    assert.throws(() => podLogDirectory({ ...p, metadata: { ...p.metadata, uid: 'u', namespace: '..' } }, logs), isUnsafe(/unsafe pod namespace/));
    assert.throws(() => podCgroupParent(p, '/', true), isUnsafe(/unsafe pod uid/));
    assert.throws(() => sandboxConfigFor(p, sandboxOpts()), isUnsafe(/unsafe pod uid/));
    const profiled = hostilePod('uid-seccomp', { securityContext: { seccompProfile: { type: 'Localhost', localhostProfile: '../../../etc/shadow' } } });
    assert.throws(() => seccompFor(profiled, undefined, join(root, 'seccomp')), isUnsafe(/unsafe seccomp localhostProfile .*must not contain '\.\.'/));
    assert.equal(existsSync(victim), false);
    assert.equal(existsSync(join(dir, 'victims', 'parts')), false);
  });

  it('the simulated runtime refuses log paths outside the sandbox log directory', async () => {
    const ok = hostilePod('uid-sim-logs');
    const config = sandboxConfigFor(ok, sandboxOpts());
    await assert.rejects(
      cri.RunPodSandbox({ config: { ...config, logDirectory: 'relative/logs' } }),
      /log directory "relative\/logs" must be an absolute path without '\.\.'/,
    );
    await assert.rejects(cri.RunPodSandbox({ config: { ...config, logDirectory: `${logs}/../victims` } }), /must be an absolute path without '\.\.'/);
    const { podSandboxId } = await cri.RunPodSandbox({ config });
    const container = (logPath: string) => ({ metadata: { name: 'app', attempt: 0 }, image: { image: 'busybox:1.35' }, command: ['sleep', '3600'], logPath });
    await assert.rejects(
      cri.CreateContainer({ podSandboxId, config: container('../../victims/app.log'), sandboxConfig: config }),
      /container log path refused: .*must not contain '\.\.'/,
    );
    await assert.rejects(
      cri.CreateContainer({ podSandboxId, config: container(`${victims}/app.log`), sandboxConfig: config }),
      /container log path refused: .*must be a relative path/,
    );
    assert.deepEqual(
      readdirSync(victims).filter((n) => n.endsWith('.log')),
      [],
    );
    await cri.StopPodSandbox({ podSandboxId });
    await cri.RemovePodSandbox({ podSandboxId });
  });

  describe('subPath at time of use', () => {
    const outside = (): string => join(dir, 'outside');

    async function prepared(p: Pod): Promise<PodVolumes> {
      const r = await vm.setUp(p);
      assert.deepEqual(r.errors, []);
      return r.volumes;
    }

    async function startOnce(p: Pod, volumes: PodVolumes) {
      const plan = planSync(p, await inspectPod(cri, p.metadata.uid!, 'sim'), ctx);
      const result = await executeSync(cri, p, plan, { ...sandboxOpts(), prepared: { volumes } });
      await cri.StopPodSandbox({ podSandboxId: result.sandboxId }).catch(() => undefined);
      return result;
    }

    const podWithSubPath = (uid: string, subPath: string): Pod => {
      const p = hostilePod(uid, { volumes: [{ name: 'data', emptyDir: {} }] });
      p.spec.containers[0]!.volumeMounts = [{ name: 'data', mountPath: '/data', subPath }];
      return p;
    };

    before(() => {
      mkdirSync(outside(), { recursive: true });
      mkdirSync(join(outside(), 'b'), { recursive: true });
      writeFileSync(join(outside(), 'host-file'), 'host');
    });

    it('a subPath swapped for a symlink out of the volume after set-up is refused (last component)', async () => {
      const p = podWithSubPath('uid-subpath-last', 'logs');
      const volumes = await prepared(p);
      const volDir = volumes['data']!.hostPath;
      assert.ok(existsSync(join(volDir, 'logs')), 'made at set-up, as upstream');
      // The container replaces its folder with a link to the host before its next start.
      rmSync(join(volDir, 'logs'), { recursive: true });
      symlinkSync(outside(), join(volDir, 'logs'));
      const r = await startOnce(p, volumes);
      assert.equal(r.started[0]?.error?.reason, 'CreateContainerConfigError');
      assert.equal(r.started[0]?.error?.message, `subpath "${outside()}" not within volume path "${realpathSync(volDir)}"`);
      assert.equal(r.started[0]?.containerId, undefined, 'no container created');
      await vm.tearDown(p.metadata.uid!);
      assert.ok(existsSync(join(outside(), 'host-file')), 'the tear-down left the link target alone');
    });

    it('a middle component swapped for a symlink out is refused too', async () => {
      const p = podWithSubPath('uid-subpath-mid', 'a/b');
      const volumes = await prepared(p);
      const volDir = volumes['data']!.hostPath;
      rmSync(join(volDir, 'a'), { recursive: true });
      symlinkSync(outside(), join(volDir, 'a'));
      const r = await startOnce(p, volumes);
      assert.equal(r.started[0]?.error?.reason, 'CreateContainerConfigError');
      assert.match(r.started[0]?.error?.message ?? '', /^subpath ".*\/outside\/b" not within volume path /);
      await vm.tearDown(p.metadata.uid!);
    });

    it('set-up never makes folders through a planted symlink', async () => {
      const p = podWithSubPath('uid-subpath-mkdir', 'x');
      const volumes = await prepared(p);
      const volDir = volumes['data']!.hostPath;
      symlinkSync(outside(), join(volDir, 'planted'));
      p.spec.containers[0]!.volumeMounts!.push({ name: 'data', mountPath: '/other', subPath: 'planted/made-by-kubelet/deeper' });
      const r = await vm.setUp(p);
      assert.match(r.volumes['data']?.subPathErrors?.['planted/made-by-kubelet/deeper'] ?? '', /is a symlink out of/);
      assert.equal(existsSync(join(outside(), 'made-by-kubelet')), false, 'mkdir -p would have made it outside');
      await vm.tearDown(p.metadata.uid!);
    });

    it('a symlink that stays inside the volume is allowed, and the runtime gets the real path', async () => {
      const p = podWithSubPath('uid-subpath-inside', 'current');
      const volumes = await prepared(p);
      const volDir = realpathSync(volumes['data']!.hostPath);
      mkdirSync(join(volDir, 'releases', 'v2'), { recursive: true });
      rmSync(join(volDir, 'current'), { recursive: true });
      symlinkSync('releases/v2', join(volDir, 'current'));
      const r = await startOnce(p, volumes);
      assert.equal(r.started[0]?.error, undefined, JSON.stringify(r.started[0]?.error));
      const status = await cri.ContainerStatus({ containerId: r.started[0]!.containerId!, verbose: false });
      assert.equal(status.status?.mounts.find((m) => m.containerPath === '/data')?.hostPath, join(volDir, 'releases', 'v2'));
      await vm.tearDown(p.metadata.uid!);
    });
  });
});
