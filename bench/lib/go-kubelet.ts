// The peer: the Go kubelet v1.20.2 (built from Debian's kubernetes source by
// `KTS_K8S_EXTRA=kubelet bash scripts/ensure-k8s.sh`) as a node of the harness's test cluster, on
// the same containerd the kubelet-ts run would use, so `--kubelet go` measures it exactly as the
// cluster rig measures kubelet-ts: same API server, same pods, same figures.
//
// Its settings are upstream defaults except what this machine needs: the cgroupfs driver, no swap
// check, pod cgroups under a root of its own (removed in stop()), the node's client certificate
// and the cluster CA for its own API (Webhook authn/authz, as kubelet-ts), and image GC and
// disk eviction thresholds that a busy test disk cannot trip. QPS, burst and max-pods come from
// the harness, as for kubelet-ts.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { TestCluster } from '../../test/helpers/cluster.js';
import { unmountUnder } from '../../test/helpers/cluster-node.js';
import { stopChild } from '../../src/util/child-process.js';
import { k8sBinDir } from '../../test/helpers/cluster.js';
import { cgroupV1Mounts, removeTree } from '../../src/native/cgroups.js';

export interface GoKubeletNode {
  name: string;
  rootDir: string;
  logFile: string;
  kubelet: ChildProcess;
  stop(): Promise<void>;
}

/** Where ensure-k8s.sh puts the Go kubelet: beside the control plane. */
export function goKubeletBinary(): string {
  const bin = join(k8sBinDir(), 'kubelet');
  if (!existsSync(bin)) {
    throw new Error(`the Go kubelet is not built: ${bin} is missing; run KTS_K8S_EXTRA=kubelet bash scripts/ensure-k8s.sh (a few minutes, once)`);
  }
  return bin;
}

export async function startGoKubeletNode(
  cluster: TestCluster,
  o: { runtimeEndpoint: string; qps: number; burst: number; maxPods: number; extraArgs: string[] },
): Promise<GoKubeletNode> {
  const bin = goKubeletBinary();
  const name = 'n1';
  const rootDir = mkdtempSync('/var/lib/kts-go-node-');
  const cgroupRoot = `/${basename(rootDir)}`;
  // The Go kubelet refuses a cgroup root that does not exist in every hierarchy.
  for (const m of cgroupV1Mounts()) mkdirSync(join(m.mountPoint, cgroupRoot), { recursive: true });
  const manifests = join(rootDir, 'manifests');
  mkdirSync(manifests, { recursive: true });
  const config = join(rootDir, 'config.yaml');
  writeFileSync(
    config,
    JSON.stringify({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      address: cluster.nodeIP,
      port: 10250,
      readOnlyPort: 0,
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: cluster.caFile } },
      authorization: { mode: 'Webhook' },
      cgroupDriver: 'cgroupfs',
      cgroupRoot,
      failSwapOn: false,
      kubeAPIQPS: o.qps,
      kubeAPIBurst: o.burst,
      maxPods: o.maxPods,
      staticPodPath: manifests,
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'nodefs.inodesFree': '1%', 'imagefs.available': '1%' },
      resolvConf: '/etc/resolv.conf',
    }),
  );
  const kubeconfig = await cluster.nodeKubeconfig(name);
  const logFile = join(cluster.dir, `go-kubelet-${name}.log`);
  writeFileSync(logFile, '');
  const args = [
    '--config',
    config,
    '--kubeconfig',
    kubeconfig,
    '--hostname-override',
    name,
    '--node-ip',
    cluster.nodeIP,
    '--container-runtime',
    'remote',
    '--container-runtime-endpoint',
    o.runtimeEndpoint,
    '--root-dir',
    rootDir,
    '--cert-dir',
    join(rootDir, 'pki'),
    '--v',
    '1',
    ...o.extraArgs,
  ];
  const kubelet = cluster.spawnInNetns(bin, args, { env: {}, logFile });
  return {
    name,
    rootDir,
    logFile,
    kubelet,
    stop: async () => {
      await stopChild(kubelet, 10_000);
      for (const m of cgroupV1Mounts()) removeTree(join(m.mountPoint, cgroupRoot));
      unmountUnder(rootDir);
      // The Go kubelet bind-mounts its root folder onto itself (to make it a shared mount).
      try {
        execFileSync('umount', ['-l', rootDir], { stdio: 'ignore' });
      } catch {
        // not a mount point
      }
      rmSync(rootDir, { recursive: true, force: true });
      // Keep its log past the cluster's temp folder, for a look after a run.
      try {
        mkdirSync('/tmp/kts-cluster-logs', { recursive: true });
        copyFileSync(logFile, `/tmp/kts-cluster-logs/go-kubelet-${name}.log`);
      } catch {
        // best effort
      }
    },
  };
}
