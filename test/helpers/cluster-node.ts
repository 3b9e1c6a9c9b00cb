// kubelet-ts as a node of a test cluster: a private containerd and the `kubelet-ts` command as a
// child process, both inside the cluster's network namespace (so the API server reaches the
// kubelet at the node's InternalIP, as in production), with the node's client certificate
// (CN=system:node:<name>, O=system:nodes: NodeRestriction checks every write). The kubelet's
// pino log goes to a file; `forbiddenLines()` finds any request the API server refused with 403.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestCluster } from './cluster.js';
import { startTestContainerd, type ContainerdFixture } from './containerd-fixture.js';
import { cgroupV1Mounts, removeTree } from '../../src/native/cgroups.js';
import { stopChild } from '../../src/util/child-process.js';

export interface ClusterNode {
  name: string;
  /** The node's private containerd (undefined when the caller gave a runtime endpoint). */
  containerd: ContainerdFixture | undefined;
  /** The CRI endpoint the kubelet uses. */
  endpoint: string;
  rootDir: string;
  manifestDir: string;
  logFile: string;
  kubelet: ChildProcess;
  /** Restart the kubelet process (same flags): a restart adopts the running pods. */
  restart(): Promise<void>;
  /** Log lines that mention an API request refused with 403 (NodeRestriction / Node authorizer). */
  forbiddenLines(): string[];
  logLines(): Record<string, unknown>[];
  stop(): Promise<void>;
}

export async function startClusterNode(
  cluster: TestCluster,
  opts: { name?: string; extraArgs?: string[]; runtimeEndpoint?: string; logLevel?: string } = {},
): Promise<ClusterNode> {
  const name = opts.name ?? 'n1';
  const containerd = opts.runtimeEndpoint ? undefined : await startTestContainerd({ netnsPath: cluster.netnsPath });
  const endpoint = opts.runtimeEndpoint ?? containerd?.containerd.endpoint ?? '';
  const rootDir = mkdtempSync('/var/lib/kts-test-node-');
  const manifestDir = join(rootDir, 'manifests');
  mkdirSync(manifestDir, { recursive: true });
  const logFile = join(cluster.dir, `kubelet-${name}.log`);
  writeFileSync(logFile, '');
  const kubeconfig = await cluster.nodeKubeconfig(name);
  const args = [
    join(process.cwd(), 'dist/src/cli.js'),
    '--kubeconfig',
    kubeconfig,
    '--hostname-override',
    name,
    '--node-ip',
    cluster.nodeIP,
    '--container-runtime-endpoint',
    endpoint,
    '--root-dir',
    rootDir,
    '--cert-dir',
    join(rootDir, 'pki'),
    '--client-ca-file',
    cluster.caFile,
    '--pod-manifest-path',
    manifestDir,
    '--file-check-frequency',
    '2s',
    // Pod cgroups under a root of this node's own, removed whole in stop().
    '--cgroup-root',
    `/${basename(rootDir)}`,
    ...(opts.extraArgs ?? []),
  ];
  const env = { KUBELET_TS_LOG_LEVEL: opts.logLevel ?? 'debug' };
  let kubelet = cluster.spawnInNetns(process.execPath, args, { env, logFile });
  const node: ClusterNode = {
    name,
    containerd,
    endpoint,
    rootDir,
    manifestDir,
    logFile,
    get kubelet() {
      return kubelet;
    },
    restart: async () => {
      const k = kubelet;
      const exited = new Promise((r) => k.once('exit', r));
      k.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000)]);
      kubelet = cluster.spawnInNetns(process.execPath, args, { env, logFile });
    },
    logLines: () =>
      readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        }),
    forbiddenLines: () =>
      readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((l) => /: 403 |Forbidden|forbidden/.test(l)),
    stop: async () => {
      await stopChild(kubelet, 10_000);
      await containerd?.close();
      for (const m of cgroupV1Mounts()) removeTree(join(m.mountPoint, basename(rootDir)));
      unmountUnder(rootDir);
      rmSync(rootDir, { recursive: true, force: true });
      // Keep the kubelet's log past the cluster's temp folder, for a look after a failure.
      try {
        mkdirSync('/tmp/kts-cluster-logs', { recursive: true });
        copyFileSync(logFile, `/tmp/kts-cluster-logs/${basename(process.argv[1] ?? 'test')}-${name}.log`);
      } catch {
        // best effort
      }
    },
  };
  return node;
}

/** Lazily unmounts everything mounted below `dir` (pod volumes on tmpfs), deepest first. */
export function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' ') ?? '')
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      // already gone
    }
  }
}

/** `kubectl get ... -o json`, parsed; throws with kubectl's words when it fails. */
export async function kubectlJson<T = Record<string, unknown>>(cluster: TestCluster, args: string[]): Promise<T> {
  const r = await cluster.kubectl([...args, '-o', 'json']);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}

/** Polls until `fn` returns a value (not undefined/false), or fails naming what it waited for. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 500): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(everyMs);
  }
}
