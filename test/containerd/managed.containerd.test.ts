// Managed containerd itself: the generated configuration, the report of missing packages, a
// start that fails with containerd's own words, and a stop that leaves nothing behind.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import {
  checkContainerdDeps,
  cniConflist,
  containerdConfigToml,
  ContainerdDepsError,
  ContainerdStartError,
  ManagedContainerd,
  mountsUnder,
} from '../../src/native/containerd/index.js';
import { connectCri } from '../../src/native/cri/index.js';
import { containerConfig, newPod, sandboxConfig } from '../helpers/cri-fixtures.js';
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
    const cni = JSON.parse(cniConflist({ stateDir: '/var/lib/x', bridgeName: 'br9', podSubnet: '10.9.0.0/16', portmap: true })) as { plugins: { type: string; bridge?: string; ipam?: { ranges: { subnet: string }[][]; dataDir: string } }[] };
    assert.deepEqual(cni.plugins.map((p) => p.type), ['bridge', 'portmap']);
    assert.equal(cni.plugins[0]?.bridge, 'br9');
    assert.equal(cni.plugins[0]?.ipam?.ranges[0]?.[0]?.subnet, '10.9.0.0/16');
    assert.equal(cni.plugins[0]?.ipam?.dataDir, '/var/lib/x/cni/networks', 'IPAM state stays in the state folder');
  });

  it('says which packages are missing', () => {
    const missingRunc = (p: string): boolean => p !== 'runc' && !p.endsWith('/portmap');
    assert.throws(() => checkContainerdDeps(missingRunc), (err: unknown) => {
      assert.ok(err instanceof ContainerdDepsError);
      assert.equal(err.code, 'KTS_CONTAINERD_DEPS');
      assert.match(err.message, /runc is not installed/);
      assert.match(err.message, /CNI portmap plugin is not installed/);
      assert.match(err.message, /apt-get install -y runc containernetworking-plugins/);
      return true;
    });
    checkContainerdDeps(() => true);
  });

  it('fails to start with containerd\'s own words when it cannot run', async () => {
    const stateDir = mkdtempSync('/var/lib/kts-test-bad-');
    try {
      await assert.rejects(ManagedContainerd.start({ stateDir, logLevel: 'nonsense' as 'info', startTimeoutMs: 10_000 }), (err: unknown) => {
        assert.ok(err instanceof ContainerdStartError);
        assert.match(err.message, /containerd exited during start/);
        assert.match(err.message, /nonsense/, 'quotes the log');
        return true;
      });
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
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
    const { containerId } = await cri.CreateContainer({ podSandboxId, config: containerConfig(pod, 'app', fx.busybox, ['sleep', '3600']), sandboxConfig: config });
    await cri.StartContainer({ containerId });
    cri.close();
    const pid = containerd.pid;
    assert.ok(mountsUnder(containerd.stateDir).length > 0, 'a running pod has mounts under the state folder');
    await containerd.stop();
    assert.equal(containerd.running, false);
    assert.throws(() => process.kill(pid, 0), 'containerd is gone');
    assert.equal(existsSync(containerd.socketPath), false, 'socket removed');
    assert.deepEqual(mountsUnder(containerd.stateDir), [], 'no mount left');
    const shims = execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((l) => l.includes('containerd-shim') && l.includes(containerd.socketPath));
    assert.deepEqual(shims, [], 'no shim left');
    const links = execFileSync('ip', ['-br', 'link']).toString();
    assert.equal(links.includes(containerd.bridgeName), false, `bridge ${containerd.bridgeName} removed`);
    assert.match(readFileSync(containerd.paths.logFile, 'utf8'), /containerd successfully booted/);
    await fx.close();
    rmSync(logs, { recursive: true, force: true });
  });
});
