// Managed containerd itself: the generated configuration, the report of missing packages, a
// start that fails with containerd's own words, and a stop that leaves nothing behind.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertContainerdDeps,
  checkContainerdDeps,
  cniConflist,
  containerdConfigToml,
  ContainerdDepsError,
  ContainerdStartError,
  describeMissing,
  ManagedContainerd,
  mountsUnder,
  pathLookup,
} from '../../src/native/containerd/index.js';
import { connectCri } from '../../src/native/cri/index.js';
import { containerConfig, newPod, sandboxConfig, waitFor } from '../helpers/cri-fixtures.js';
import { startTestContainerd } from '../helpers/containerd-fixture.js';

describe('managed containerd', () => {
  it('generates a private configuration as this machine needs', () => {
    const toml = containerdConfigToml({ stateDir: '/var/lib/x', sandboxImage: 'registry.k8s.io/pause:3.9' });
    assert.match(toml, /^version = 2$/m);
    assert.match(toml, /^root = "\/var\/lib\/x\/root"$/m);
    assert.match(toml, /^state = "\/var\/lib\/x\/state"$/m);
    assert.match(toml, /address = "\/var\/lib\/x\/containerd.sock"/);
    assert.match(toml, /restrict_oom_score_adj = true/);
    assert.match(toml, /SystemdCgroup = false/);
    assert.match(toml, /snapshotter = "overlayfs"/);
    assert.match(toml, /bin_dir = "\/usr\/lib\/cni"/);
    assert.match(toml, /conf_dir = "\/var\/lib\/x\/cni\/net.d"/);
    assert.match(toml, /stream_server_address = "127.0.0.1"/);
    assert.match(toml, /stream_server_port = "0"/);
    assert.match(toml, /runtime_type = "io.containerd.runc.v2"/);
    assert.match(toml, /"io.containerd.snapshotter.v1.btrfs"/, 'unneeded snapshotters disabled');
    assert.match(containerdConfigToml({ stateDir: '/x' }), /sandbox_image = "registry.k8s.io\/pause:3.9"/, 'default sandbox image');
    assert.match(containerdConfigToml({ stateDir: '/x', streamPort: 10010 }), /stream_server_port = "10010"/);
    const def = JSON.parse(cniConflist({ stateDir: '/x' })) as {
      name: string;
      plugins: { type: string; bridge?: string; isGateway?: boolean; ipMasq?: boolean; ipam?: { ranges: { subnet: string }[][] } }[];
    };
    assert.deepEqual(
      [def.plugins[0]?.bridge, def.plugins[0]?.isGateway, def.plugins[0]?.ipMasq, def.plugins[0]?.ipam?.ranges[0]?.[0]?.subnet],
      ['kts0', true, false, '10.88.0.0/16'],
    );
    const cni = JSON.parse(cniConflist({ stateDir: '/var/lib/x', bridgeName: 'br9', podSubnet: '10.9.0.0/16', portmap: true })) as {
      plugins: { type: string; bridge?: string; ipam?: { ranges: { subnet: string }[][]; dataDir: string } }[];
    };
    assert.deepEqual(
      cni.plugins.map((p) => p.type),
      ['bridge', 'portmap'],
    );
    assert.equal(cni.plugins[0]?.bridge, 'br9');
    assert.equal(cni.plugins[0]?.ipam?.ranges[0]?.[0]?.subnet, '10.9.0.0/16');
    assert.equal(cni.plugins[0]?.ipam?.dataDir, '/var/lib/x/cni/networks', 'IPAM state stays in the state folder');
  });

  it('says which packages are missing, with the package to install', async () => {
    // A PATH holding only containerd and ctr: runc, ip and umoci are then "not installed".
    const bin = mkdtempSync(join(tmpdir(), 'kts-path-'));
    try {
      for (const c of ['containerd', 'ctr'])
        symlinkSync(
          execFileSync('sh', ['-c', `command -v ${c}`])
            .toString()
            .trim(),
          join(bin, c),
        );
      const lookup = pathLookup(bin);
      const missing = checkContainerdDeps(lookup);
      assert.deepEqual(
        missing.map((m) => [m.what, m.pkg]),
        [
          ['runc', 'runc'],
          ['ip (iproute2)', 'iproute2'],
          ['umoci', 'umoci'],
        ],
      );
      assert.throws(
        () => assertContainerdDeps(lookup),
        (err: unknown) => {
          assert.ok(err instanceof ContainerdDepsError);
          assert.equal(err.code, 'KTS_CONTAINERD_DEPS');
          assert.match(err.message, /runc is not installed \(apt-get install runc\)/);
          assert.match(err.message, /umoci is not installed \(apt-get install umoci\)/);
          assert.match(err.message, /apt-get install -y runc iproute2 umoci/);
          return true;
        },
      );
      // A missing CNI plugin (an absolute path) is reported with its package too.
      const noPortmap = checkContainerdDeps((p) => !p.endsWith('/portmap'));
      assert.deepEqual(describeMissing(noPortmap), ['CNI portmap plugin is not installed (apt-get install containernetworking-plugins)']);
      // start() refuses before touching anything, with the same error.
      const stateDir = join(bin, 'state');
      await assert.rejects(ManagedContainerd.start({ stateDir, lookup }), ContainerdDepsError);
      assert.equal(existsSync(stateDir), false, 'nothing created');
      // And on this machine (scripts/ensure-deps.sh ran) nothing is missing.
      assert.deepEqual(
        checkContainerdDeps().map((m) => m.what),
        [],
        'run scripts/ensure-deps.sh as root to install the missing packages',
      );
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it("fails to start with containerd's own words when it cannot run", async () => {
    const stateDir = mkdtempSync('/var/lib/kts-test-bad-');
    try {
      await assert.rejects(ManagedContainerd.start({ stateDir, logLevel: 'nonsense' as 'info', startTimeoutMs: 10_000 }), (err: unknown) => {
        assert.ok(err instanceof ContainerdStartError);
        assert.equal(err.code, 'KTS_CONTAINERD_START');
        assert.match(err.message, /containerd exited during start/);
        assert.match(err.message, /nonsense/, 'quotes the log');
        assert.ok(err.message.includes(join(stateDir, 'containerd.log')), 'names the log file');
        return true;
      });
      // A config containerd cannot parse (a table defined twice).
      await assert.rejects(
        ManagedContainerd.start({ stateDir, extraToml: '[grpc]\n  address = "/nowhere.sock"\n', startTimeoutMs: 10_000 }),
        (err: unknown) => {
          assert.ok(err instanceof ContainerdStartError);
          assert.match(err.message, /containerd exited during start/);
          assert.match(err.message, /failed to load TOML: .*duplicated tables/, "quotes containerd's complaint about the config");
          assert.doesNotMatch(err.message, /nonsense/, "only this start's lines");
          return true;
        },
      );
      assert.equal(existsSync(join(stateDir, 'containerd.sock')), false, 'no socket left');
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('starts with extra TOML appended to its config', async () => {
    const fx = await startTestContainerd({ extraToml: '[plugins."io.containerd.gc.v1.scheduler"]\n  pause_threshold = 0.03\n' });
    try {
      const toml = readFileSync(fx.containerd.paths.configFile, 'utf8');
      assert.match(toml, /# extraToml\n\[plugins."io.containerd.gc.v1.scheduler"\]\n {2}pause_threshold = 0.03\n$/);
      const cri = connectCri(fx.containerd.endpoint);
      try {
        assert.equal((await cri.Version({ version: 'v1' })).runtimeName, 'containerd');
      } finally {
        cri.close();
      }
    } finally {
      await fx.close();
    }
  });

  it('stops cleanly: pods removed, no process, socket, mount, shim or bridge left', async () => {
    const fx = await startTestContainerd();
    const { containerd } = fx;
    const cri = connectCri(containerd.endpoint);
    const pod = newPod('stop');
    const logs = mkdtempSync('/tmp/kts-stop-logs-');
    const config = sandboxConfig(pod, logs);
    const { podSandboxId } = await cri.RunPodSandbox({ config });
    const { containerId } = await cri.CreateContainer({
      podSandboxId,
      config: containerConfig(pod, 'app', fx.busybox, ['sleep', '3600']),
      sandboxConfig: config,
    });
    await cri.StartContainer({ containerId });
    cri.close();
    const pid = containerd.pid;
    assert.ok(mountsUnder(containerd.stateDir).length > 0, 'a running pod has mounts under the state folder');
    await containerd.stop();
    assert.equal(containerd.running, false);
    assert.throws(() => process.kill(pid, 0), 'containerd is gone');
    assert.equal(existsSync(containerd.socketPath), false, 'socket removed');
    assert.deepEqual(mountsUnder(containerd.stateDir), [], 'no mount left');
    const shims = execFileSync('ps', ['-eo', 'args'])
      .toString()
      .split('\n')
      .filter((l) => l.includes('containerd-shim') && l.includes(containerd.socketPath));
    assert.deepEqual(shims, [], 'no shim left');
    const links = execFileSync('ip', ['-br', 'link']).toString();
    assert.equal(links.includes(containerd.bridgeName), false, `bridge ${containerd.bridgeName} removed`);
    assert.match(readFileSync(containerd.paths.logFile, 'utf8'), /containerd successfully booted/);
    await fx.close();
    rmSync(logs, { recursive: true, force: true });
  });
  it('cleans up when its parent exits without stop(): no containerd, shim, container, mount or netns left', async () => {
    const stateDir = mkdtempSync('/var/lib/kts-test-exit-');
    const logs = mkdtempSync('/tmp/kts-exit-logs-');
    const bridge = `ktsx${process.pid % 1000}`;
    const mod = (rel: string): string => new URL(rel, import.meta.url).href;
    // The child starts containerd, runs a pod with a long-running container, and exits at once.
    const script = `
      import { ManagedContainerd, ensureImages } from ${JSON.stringify(mod('../../src/native/containerd/index.js'))};
      import { connectCri } from ${JSON.stringify(mod('../../src/native/cri/index.js'))};
      import { containerConfig, newPod, sandboxConfig } from ${JSON.stringify(mod('../helpers/cri-fixtures.js'))};
      const mc = await ManagedContainerd.start({ stateDir: ${JSON.stringify(stateDir)}, bridgeName: ${JSON.stringify(bridge)}, podSubnet: '10.196.0.0/24' });
      const { busybox } = await ensureImages({ endpoint: mc.endpoint });
      const cri = connectCri(mc.endpoint);
      const pod = newPod('orphan');
      const config = sandboxConfig(pod, ${JSON.stringify(logs)});
      const { podSandboxId } = await cri.RunPodSandbox({ config });
      const { containerId } = await cri.CreateContainer({ podSandboxId, config: containerConfig(pod, 'app', busybox, ['sleep', '3600']), sandboxConfig: config });
      await cri.StartContainer({ containerId });
      const st = await cri.PodSandboxStatus({ podSandboxId, verbose: true });
      const info = JSON.parse(st.info.info ?? '{}');
      process.stdout.write(JSON.stringify({ containerd: mc.pid, sandboxPid: info.pid, netns: info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path }));
      process.exit(0);
    `;
    try {
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 }).toString();
      const seen = JSON.parse(out) as { containerd: number; sandboxPid: number; netns: string };
      assert.ok(seen.containerd > 0 && seen.sandboxPid > 0, out);
      assert.ok(seen.netns.startsWith(stateDir), `the pod netns ${seen.netns} lives under the state folder`);
      const alive = (pid: number): boolean => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      await waitFor('containerd and the pause process to die', () => (alive(seen.containerd) || alive(seen.sandboxPid) ? undefined : true), 5000);
      const leftovers = execFileSync('ps', ['-eo', 'args'])
        .toString()
        .split('\n')
        .filter((l) => l.includes(stateDir));
      assert.deepEqual(leftovers, [], 'no process of this state folder (shims included)');
      assert.deepEqual(mountsUnder(stateDir), [], 'no mount left (rootfs, shm, netns)');
    } finally {
      try {
        execFileSync('ip', ['link', 'delete', bridge], { stdio: 'ignore' });
      } catch {
        // not created
      }
      rmSync(stateDir, { recursive: true, force: true });
      rmSync(logs, { recursive: true, force: true });
    }
  });
});
