// The harness's rigs: a kubelet under test with its runtime and pod source, behind one interface
// the scenarios drive. Three rigs:
//
//   static    kubelet-ts in this process (startKubelet), pods as manifest files in its
//             --pod-manifest-path, observed on its bus (pod.status; pod.state 'gone').
//   api       a test cluster (kube-apiserver v1.20.2 + etcd in a network namespace, the cluster
//             suite's harness) with kubelet-ts as a child process there; pods created through the
//             API bound to the node and observed by watch. The kubelet is driven only through the
//             API server, as any kubelet would be.
//   external  any cluster and any kubelet (the Go kubelet, a hollow node): --kubeconfig and
//             --node; the same API driving and watching, no control over the runtime unless
//             --container-runtime-endpoint is given (then crash storms kill container PIDs).
//
// Runtimes: `sim`, the simulated runtime as its own process (`kubelet-ts sim-runtime`, so its
// CPU is not the kubelet's; crashes through its control API), or `containerd`, a private managed
// containerd (in the namespace for the api rig), whose floor is measured before the kubelet starts.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ApiClient, type WatchHandle } from '../../src/api/client.js';
import type { Pod, PodStatus } from '../../src/api/core-v1.js';
import { loadKubeletConfig } from '../../src/config/kubelet-config.js';
import { startKubelet, type Kubelet } from '../../src/kubelet.js';
import { silentLogger } from '../../src/log.js';
import { connectCri, type CriClient } from '../../src/native/cri/index.js';
import { cgroupV1Mounts, removeTree } from '../../src/native/cgroups.js';
import type { ThreadSnapshot } from '../../src/native/thread-stats.js';
import { measureCriFloor, type FloorResult } from '../cri-floor.js';
import { pidsWithCmdline } from './proc.js';
import { stopChild } from '../../src/util/child-process.js';

export type SourceKind = 'static' | 'api' | 'external';
/** 'external': an external node's own runtime, named only in reports. */
export type RuntimeChoice = 'sim' | 'sim-embedded' | 'containerd' | 'external';

export const BENCH_IMAGE = 'docker.io/library/busybox:1.35';
export const BENCH_LABEL = 'kts-harness';
/** A container that ends at once on SIGTERM (so deletions measure the kubelet, not a grace period) and runs until then. */
const COMMAND = ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'];

/** What a scenario sees of a pod. */
export interface PodView {
  /** The name the harness gave it (static pods lose their `-<node>` suffix here). */
  name: string;
  phase: string;
  /** Every container running. */
  running: boolean;
  restarts: number;
  /** Some container is not running (exited, waiting in backoff). */
  anyDown: boolean;
}

export interface RigOptions {
  source: SourceKind;
  runtime: RuntimeChoice;
  pods: number;
  qps: number;
  burst: number;
  /** Measure the CRI floor first (default: on containerd). */
  floor: boolean;
  /** external: */
  kubeconfig?: string | undefined;
  node?: string | undefined;
  kubeletPid?: number | undefined;
  runtimeEndpoint?: string | undefined;
  /** Extra kubelet flags (static and api rigs). */
  kubeletArgs: string[];
  /** Which kubelet serves the api rig's node: kubelet-ts, or the Go kubelet v1.20.2 (the peer). */
  kubelet?: 'kubelet-ts' | 'go';
  log: (line: string) => void;
}

export interface Rig {
  describe: string;
  /** Pods go through an API server (its client-side QPS limit applies to status writes). */
  viaApi: boolean;
  nodeName: string;
  floor: FloorResult | undefined;
  create(name: string): Promise<void>;
  remove(name: string): Promise<void>;
  /** Every status the harness can see, as it arrives. */
  onView(cb: (v: PodView) => void): void;
  /** A pod is gone (static: its sandbox removed; api: the object deleted). */
  onGone(cb: (name: string) => void): void;
  /** Makes the running container of each named pod die at once; resolves with when (performance.now()) and how many. */
  crash(names: readonly string[]): Promise<{ at: number; crashed: number }>;
  /** The kubelet's /metrics text, when the harness can read it. */
  metrics(): Promise<string | undefined>;
  /** Per-thread CPU and delay of an in-process kubelet (api rigs read them from /metrics). */
  threads(): ThreadSnapshot[] | undefined;
  /** PIDs by role, for CPU and RSS sampling; 'kubelet' is this process for the static rig. */
  processes(): { kubelet: number[]; runtime: number[]; harness: number[] };
  close(): Promise<void>;
}

export function podManifest(name: string, nodeName: string | undefined): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { bench: BENCH_LABEL } },
    spec: {
      ...(nodeName ? { nodeName } : {}),
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 2,
      containers: [{ name: 'app', image: BENCH_IMAGE, imagePullPolicy: 'IfNotPresent', command: COMMAND }],
    },
  };
}

function viewOf(name: string, status: PodStatus | undefined): PodView {
  const cs = status?.containerStatuses ?? [];
  return {
    name,
    phase: status?.phase ?? 'Pending',
    running: cs.length > 0 && cs.every((c) => c.state?.running !== undefined),
    restarts: cs.reduce((a, c) => a + (c.restartCount ?? 0), 0),
    anyDown: cs.some((c) => c.state?.running === undefined),
  };
}

// ---- runtimes ----

interface RuntimeHandle {
  endpoint: string;
  pids(): number[];
  crashContainers(ids: string[]): Promise<number>;
  close(): Promise<void>;
}

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

async function waitForFile(path: string, what: string, child: ChildProcess, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!existsSync(path)) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode} before it listened`);
    if (Date.now() > end) throw new Error(`${what}: no ${path} after ${ms} ms`);
    await sleep(50);
  }
}

function unixPost(socketPath: string, path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = httpRequest(
      { socketPath, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } },
      (res) => {
        let out = '';
        res.setEncoding('utf8');
        res.on('data', (s: string) => (out += s));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: out ? JSON.parse(out) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** The simulated runtime as its own process, with its control socket. */
async function startSimProcess(dir: string): Promise<RuntimeHandle> {
  const sock = join(dir, 'sim.sock');
  const ctl = join(dir, 'sim-control.sock');
  const child = spawn(process.execPath, [CLI, 'sim-runtime', '--listen', `unix://${sock}`, '--control', `unix://${ctl}`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForFile(ctl, 'the sim runtime', child);
  await waitForFile(sock, 'the sim runtime', child);
  return {
    endpoint: `unix://${sock}`,
    pids: () => (child.pid ? [child.pid] : []),
    crashContainers: async (ids) => {
      const r = await unixPost(ctl, '/crash', { containerIds: ids });
      if (r.status !== 200) throw new Error(`sim /crash answered ${r.status}: ${JSON.stringify(r.json)}`);
      return (r.json as { crashed: number }).crashed;
    },
    close: () => stopChild(child, 5000),
  };
}

/** Kills each container's process (its PID from containerd's verbose status): an exit 137 from outside. */
async function killContainerPids(cri: CriClient, ids: string[]): Promise<number> {
  const pids = await Promise.all(
    ids.map(async (containerId) => {
      const s = await cri.ContainerStatus({ containerId, verbose: true });
      try {
        return (JSON.parse(s.info.info ?? '{}') as { pid?: number }).pid;
      } catch {
        return undefined;
      }
    }),
  );
  let n = 0;
  for (const pid of pids) {
    if (!pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
      n++;
    } catch {
      // exited meanwhile
    }
  }
  return n;
}

async function startContainerd(netnsPath: string | undefined): Promise<RuntimeHandle> {
  let endpoint: string;
  let pid: () => number;
  let close: () => Promise<void>;
  if (netnsPath) {
    const { startTestContainerd } = await import('../../test/helpers/containerd-fixture.js');
    const fx = await startTestContainerd({ netnsPath, podSubnet: '172.30.0.0/16' });
    endpoint = fx.containerd.endpoint;
    pid = () => fx.containerd.pid;
    close = () => fx.close();
  } else {
    const { ManagedContainerd, ensureImages } = await import('../../src/native/containerd/index.js');
    const stateDir = mkdtempSync('/var/lib/kts-bench-');
    const mc = await ManagedContainerd.start({ stateDir, bridgeName: 'ktsbench0', podSubnet: '10.66.0.0/16' });
    await ensureImages({ endpoint: mc.endpoint });
    endpoint = mc.endpoint;
    pid = () => mc.pid;
    close = async () => {
      await mc.stop({ removePods: true });
      rmSync(stateDir, { recursive: true, force: true });
    };
  }
  const socket = endpoint.replace(/^unix:\/\//, '');
  const cri = connectCri(endpoint);
  return {
    endpoint,
    // containerd and its shims (one per pod: they are the runtime's cost too).
    pids: () => [pid(), ...pidsWithCmdline('containerd-shim', socket)],
    crashContainers: (ids) => killContainerPids(cri, ids),
    close: async () => {
      cri.close();
      await close();
    },
  };
}

async function measureFloor(endpoint: string, pods: number, dir: string, log: (l: string) => void): Promise<FloorResult> {
  log(`measuring the CRI floor (${pods} pods, 8 in flight)...`);
  const cri = connectCri(endpoint);
  try {
    return await measureCriFloor(cri, { pods, concurrency: 8, image: BENCH_IMAGE, logRoot: join(dir, 'floor-logs'), warmup: 1 });
  } finally {
    cri.close();
  }
}

/** Running containers of the named pods, through CRI (by the kubelet's pod-name label). */
async function runningContainersOf(cri: CriClient, names: ReadonlySet<string>, nameOf: (podName: string) => string): Promise<string[]> {
  const { containers } = await cri.ListContainers({ filter: { state: { state: 'CONTAINER_RUNNING' } } });
  return containers.filter((c) => names.has(nameOf(c.labels['io.kubernetes.pod.name'] ?? ''))).map((c) => c.id);
}

// ---- the static rig ----

/** No runtime process: the kubelet's own embedded sim (--embedded-runtime=sim). */
function embeddedRuntime(): RuntimeHandle {
  return {
    endpoint: '',
    pids: () => [],
    crashContainers: () => Promise.reject(new Error('the embedded sim is reached through the kubelet')),
    close: () => Promise.resolve(),
  };
}

async function staticRig(o: RigOptions): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'kts-harness-'));
  const embedded = o.runtime === 'sim-embedded';
  const runtime = embedded ? embeddedRuntime() : o.runtime === 'sim' ? await startSimProcess(dir) : await startContainerd(undefined);
  let kubelet: Kubelet | undefined;
  try {
    const floor = o.floor && !embedded ? await measureFloor(runtime.endpoint, o.pods, dir, o.log) : undefined;
    const manifests = join(dir, 'manifests');
    mkdirSync(manifests);
    const nodeName = 'bench';
    const cgroupRoot = `/kts-harness-${basename(dir)}`;
    const argv = [
      '--pod-manifest-path',
      manifests,
      ...(embedded ? ['--embedded-runtime', 'sim'] : ['--container-runtime-endpoint', runtime.endpoint]),
      '--hostname-override',
      nodeName,
      '--root-dir',
      join(dir, 'root'),
      '--authorization-mode',
      'AlwaysAllow',
      '--file-check-frequency',
      '20s',
      '--max-pods',
      String(Math.max(110, o.pods + 20)),
      ...(o.runtime === 'containerd' ? ['--cgroup-root', cgroupRoot] : []),
      ...o.kubeletArgs,
    ];
    kubelet = await startKubelet(loadKubeletConfig(argv).config, silentLogger, { serve: false });
    const k = kubelet;
    const suffix = `-${nodeName}`;
    const baseName = (n: string): string => (n.endsWith(suffix) ? n.slice(0, -suffix.length) : n);
    const viewers: ((v: PodView) => void)[] = [];
    const goners: ((n: string) => void)[] = [];
    const nameByUid = new Map<string, string>();
    k.bus.subscribe(
      'pod.status',
      (m) => {
        nameByUid.set(m.uid, baseName(m.name));
        const v = viewOf(baseName(m.name), m.status);
        for (const f of viewers) f(v);
      },
      { capacity: 1_000_000, name: 'harness' },
    );
    k.bus.subscribe(
      'pod.state',
      (m) => {
        if (m.type !== 'gone') return;
        const n = nameByUid.get(m.uid);
        if (n === undefined) return;
        for (const f of goners) f(n);
      },
      { capacity: 1_000_000, name: 'harness-gone' },
    );
    const sim = k.embeddedSim;
    const { createSimClient } = await import('../../src/sim/index.js');
    const cri = embedded && sim ? createSimClient(sim, {}) : connectCri(runtime.endpoint);
    const crashIds =
      embedded && sim
        ? (ids: string[]): Promise<number> => Promise.resolve(ids.filter((id) => sim.crashContainer(id)).length)
        : (ids: string[]): Promise<number> => runtime.crashContainers(ids);
    return {
      describe: `kubelet-ts in the harness process, static manifests, ${embedded ? "the embedded simulated runtime (in the kubelet: no sockets, its CPU is the kubelet's)" : o.runtime === 'sim' ? 'the simulated runtime (own process)' : 'managed containerd'}`,
      viaApi: false,
      nodeName,
      floor,
      // Asynchronous writes (libuv's threads): the kubelet's main thread is this process's too,
      // and 1000 synchronous writes blocked it for over a second in the profile.
      create: (name) => writeFile(join(manifests, `${name}.json`), JSON.stringify(podManifest(name, undefined))),
      remove: (name) => unlink(join(manifests, `${name}.json`)),
      onView: (cb) => void viewers.push(cb),
      onGone: (cb) => void goners.push(cb),
      crash: async (names) => {
        const ids = await runningContainersOf(cri, new Set(names), baseName);
        const at = performance.now();
        return { at, crashed: await crashIds(ids) };
      },
      metrics: () => k.registry.metrics(),
      threads: () => k.threads(),
      processes: () => ({ kubelet: [process.pid], runtime: runtime.pids(), harness: [] }),
      close: async () => {
        cri.close();
        await k.stop({ runtime: 'stop' });
        await runtime.close();
        if (o.runtime === 'containerd') for (const m of cgroupV1Mounts()) removeTree(join(m.mountPoint, cgroupRoot));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await kubelet?.stop({ runtime: 'stop' }).catch(() => undefined);
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

// ---- API rigs ----

/** Watches the bench pods from `rv` on, resuming after the server closes the stream. */
function watchPods(api: ApiClient, nodeName: string, onEvent: (type: string, pod: Pod) => void): { stop(): void } {
  let stopped = false;
  let rv = '0';
  let current: WatchHandle | undefined;
  const loop = async (): Promise<void> => {
    while (!stopped) {
      current = api.watch<Pod>(
        '/api/v1/namespaces/default/pods',
        { labelSelector: `bench=${BENCH_LABEL}`, fieldSelector: `spec.nodeName=${nodeName}`, resourceVersion: rv, allowWatchBookmarks: 'true' },
        (ev) => {
          const v = ev.object.metadata?.resourceVersion;
          if (v) rv = v;
          if (ev.type !== 'BOOKMARK') onEvent(ev.type, ev.object);
        },
      );
      const r = await current.done;
      if (r.reason === 'error' && !stopped) {
        if (r.error.status === 410) rv = '0';
        await sleep(200);
      }
    }
  };
  void loop();
  return {
    stop: () => {
      stopped = true;
      current?.stop();
    },
  };
}

function httpsGet(url: string, cert: string, key: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { rejectUnauthorized: false, cert, key, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (text += s));
      res.on('end', () => ((res.statusCode ?? 0) === 200 ? resolve(text) : reject(new Error(`${url}: ${res.statusCode ?? 0}`))));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)));
    req.end();
  });
}

function apiDriver(api: ApiClient, nodeName: string): Pick<Rig, 'create' | 'remove' | 'onView' | 'onGone'> & { stop(): void } {
  const viewers: ((v: PodView) => void)[] = [];
  const goners: ((n: string) => void)[] = [];
  const w = watchPods(api, nodeName, (type, pod) => {
    const name = pod.metadata.name ?? '';
    if (type === 'DELETED') {
      for (const f of goners) f(name);
      return;
    }
    const v = viewOf(name, pod.status);
    for (const f of viewers) f(v);
  });
  return {
    create: async (name) => {
      await api.post('/api/v1/namespaces/default/pods', podManifest(name, nodeName));
    },
    remove: async (name) => {
      await api.delete(`/api/v1/namespaces/default/pods/${name}`);
    },
    onView: (cb) => void viewers.push(cb),
    onGone: (cb) => void goners.push(cb),
    stop: () => w.stop(),
  };
}

async function clusterRig(o: RigOptions): Promise<Rig> {
  const { startTestCluster } = await import('../../test/helpers/cluster.js');
  const { readKubeconfigCredentials } = await import('../../test/helpers/cluster-pki.js');
  const { eventually, startClusterNode } = await import('../../test/helpers/cluster-node.js');
  o.log('starting the test cluster (kube-apiserver v1.20.2, etcd)...');
  const cluster = await startTestCluster();
  const dir = mkdtempSync(join(tmpdir(), 'kts-harness-'));
  let runtime: RuntimeHandle | undefined;
  try {
    await cluster.kubectl(['create', 'serviceaccount', 'default', '-n', 'default']);
    runtime = o.runtime === 'sim' ? await startSimProcess(dir) : await startContainerd(cluster.netnsPath);
    // The floor before the kubelet starts: a running kubelet would remove the floor's pods as orphans.
    const floor = o.floor ? await measureFloor(runtime.endpoint, o.pods, dir, o.log) : undefined;
    const go = o.kubelet === 'go';
    o.log(`starting ${go ? 'the Go kubelet' : 'kubelet-ts'} as a node of the cluster...`);
    const maxPods = Math.max(110, o.pods + 20);
    const node = go
      ? await (
          await import('./go-kubelet.js')
        ).startGoKubeletNode(cluster, { runtimeEndpoint: runtime.endpoint, qps: o.qps, burst: o.burst, maxPods, extraArgs: o.kubeletArgs })
      : await startClusterNode(cluster, {
          runtimeEndpoint: runtime.endpoint,
          logLevel: 'warn',
          extraArgs: ['--kube-api-qps', String(o.qps), '--kube-api-burst', String(o.burst), '--max-pods', String(maxPods), ...o.kubeletArgs],
        });
    await eventually(
      'node Ready',
      async () => {
        const n = await cluster.kubectl(['get', 'node', node.name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
        return n.stdout === 'True';
      },
      90_000,
    );
    const api = await ApiClient.fromKubeconfig(cluster.adminKubeconfig, { qps: 0, burst: 0 });
    const driver = apiDriver(api, node.name);
    const creds = readKubeconfigCredentials(cluster.adminKubeconfig);
    const cri = connectCri(runtime.endpoint);
    const rt = runtime;
    return {
      ...driver,
      describe: `${go ? 'the Go kubelet v1.20.2' : 'kubelet-ts'} as a child process, pods from a kube-apiserver v1.20.2 (kubelet QPS ${o.qps}, burst ${o.burst}), ${o.runtime === 'sim' ? 'the simulated runtime (own process)' : 'managed containerd'}`,
      viaApi: true,
      nodeName: node.name,
      floor,
      crash: async (names) => {
        const ids = await runningContainersOf(cri, new Set(names), (n) => n);
        const at = performance.now();
        return { at, crashed: await rt.crashContainers(ids) };
      },
      metrics: () => httpsGet(`https://${cluster.nodeIP}:10250/metrics`, creds.cert, creds.key).catch(() => undefined),
      threads: () => undefined,
      processes: () => ({ kubelet: node.kubelet.pid ? [node.kubelet.pid] : [], runtime: rt.pids(), harness: [process.pid] }),
      close: async () => {
        driver.stop();
        api.close();
        cri.close();
        await node.stop();
        await rt.close();
        // The node removed its cgroup root while the runtime still ran the pods in it (the
        // runtime here is the rig's, not the node's): again, now that they are gone.
        for (const m of cgroupV1Mounts()) removeTree(join(m.mountPoint, basename(node.rootDir)));
        await cluster.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await runtime?.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function externalRig(o: RigOptions): Promise<Rig> {
  if (!o.kubeconfig || !o.node) throw new Error('--source external needs --kubeconfig FILE and --node NAME (the node whose kubelet is measured)');
  const api = await ApiClient.fromKubeconfig(o.kubeconfig, { qps: 0, burst: 0 });
  const nodeName = o.node;
  const driver = apiDriver(api, nodeName);
  const cri = o.runtimeEndpoint ? connectCri(o.runtimeEndpoint) : undefined;
  const floor =
    o.floor && o.runtimeEndpoint ? await measureFloor(o.runtimeEndpoint, o.pods, mkdtempSync(join(tmpdir(), 'kts-harness-floor-')), o.log) : undefined;
  return {
    ...driver,
    describe: `an external kubelet serving node ${nodeName}, driven through the API server of ${o.kubeconfig}`,
    viaApi: true,
    nodeName,
    floor,
    crash: async (names) => {
      if (!cri) throw new Error('crash storms on an external node need --container-runtime-endpoint (its containerd)');
      const ids = await runningContainersOf(cri, new Set(names), (n) => n);
      const at = performance.now();
      return { at, crashed: await killContainerPids(cri, ids) };
    },
    metrics: () => Promise.resolve(undefined),
    threads: () => undefined,
    processes: () => ({ kubelet: o.kubeletPid ? [o.kubeletPid] : [], runtime: [], harness: [process.pid] }),
    close: () => {
      driver.stop();
      api.close();
      cri?.close();
      return Promise.resolve();
    },
  };
}

export function openRig(o: RigOptions): Promise<Rig> {
  switch (o.source) {
    case 'static':
      return staticRig(o);
    case 'api':
      return clusterRig(o);
    case 'external':
      return externalRig(o);
  }
}
