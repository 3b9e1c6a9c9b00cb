// Burst start of N pods from the API server on kubelet-ts (a cluster scenario of the benchmark
// harness, issue 6): the kubelet is driven only through the API server, as any kubelet would be.
//
//   node dist/bench/cluster-burst.js --runtime sim --pods 1000
//   node dist/bench/cluster-burst.js --runtime containerd --pods 300
//   (--kube-api-qps 50 --kube-api-burst 100 are passed to the kubelet)
//
// Steps: a test cluster (kube-apiserver v1.20.2 + etcd in a network namespace, the harness of
// the cluster tests; binaries from scripts/ensure-k8s.sh); the runtime (a private containerd in
// the namespace, or the simulated runtime served on a unix socket by this process); for
// containerd, the raw CRI floor for N pods first (same runtime, 8 in flight); kubelet-ts as a
// child process in the namespace; then N pods bound to the node are created through the API
// (50 requests in flight, no client limit) and watched. Startup latency per pod = its create
// request returned -> Running with every container running observed in the watch. Reported:
// all-Running time and its ratio to the floor (containerd) and to the time the kubelet's QPS
// needs for one status write per pod (the bound when status writes are the limit), startup
// percentiles, status writes per pod (the kubelet's own rest_client_requests_total PATCH count
// from /metrics; node status and event count patches included), kubelet CPU seconds and peak RSS (from /proc).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseFlags } from '../src/cli.js';
import { ApiClient } from '../src/api/client.js';
import type { Pod } from '../src/api/core-v1.js';
import { connectCri } from '../src/native/cri/index.js';
import { startTestCluster } from '../test/helpers/cluster.js';
import { readKubeconfigCredentials } from '../test/helpers/cluster-pki.js';
import { eventually, startClusterNode } from '../test/helpers/cluster-node.js';
import { startTestContainerd, type ContainerdFixture } from '../test/helpers/containerd-fixture.js';
import { measureCriFloor } from './cri-floor.js';
import { fmtMs, runBounded, summarize, type Summary } from './lib/stats.js';
import { procSample } from './lib/proc.js';

interface Result {
  runtime: string;
  pods: number;
  qps: number;
  burst: number;
  floorMs: number | undefined;
  allRunningMs: number;
  ratioToFloor: number | undefined;
  /** Time the client-side limit needs for one write per pod: max(0, N - burst) / qps. */
  qpsBoundMs: number;
  ratioToQpsBound: number | undefined;
  startupMs: Summary;
  createMs: number;
  statusPatchesPerPod: number | undefined;
  kubeletCpuSeconds: number | undefined;
  kubeletRssPeakMb: number | undefined;
}

function kubeletMetrics(nodeIP: string, kubeconfig: string): Promise<string> {
  const c = readKubeconfigCredentials(kubeconfig);
  return new Promise((resolve, reject) => {
    const req = request(`https://${nodeIP}:10250/metrics`, { rejectUnauthorized: false, cert: c.cert, key: c.key, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (text += s));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), ['runtime', 'pods', 'out', 'kube-api-qps', 'kube-api-burst']);
  const kind = flags.get('runtime') ?? 'sim';
  if (kind !== 'sim' && kind !== 'containerd') throw new Error('--runtime must be sim or containerd');
  const pods = Number(flags.get('pods') ?? '100');
  if (!Number.isInteger(pods) || pods < 1) throw new Error('--pods must be a positive integer');
  const qps = Number(flags.get('kube-api-qps') ?? '50');
  const burst = Number(flags.get('kube-api-burst') ?? '100');
  const outDir = flags.get('out') ?? 'bench/reports';
  process.stdout.write(`cluster burst start: ${kind}, ${pods} pods, kubelet QPS ${qps} / burst ${burst}\nstarting the test cluster...\n`);
  const cluster = await startTestCluster();
  const dir = mkdtempSync(join(tmpdir(), 'kts-cluster-burst-'));
  let sim: { endpoint: string; close(): Promise<void> } | undefined;
  let ctd: ContainerdFixture | undefined;
  try {
    await cluster.kubectl(['create', 'serviceaccount', 'default', '-n', 'default']);
    let runtimeEndpoint: string;
    let floorMs: number | undefined;
    if (kind === 'sim') {
      const { startSimRuntimeServer } = await import('../src/sim/index.js');
      sim = await startSimRuntimeServer({ listen: `unix://${join(dir, 'sim.sock')}`, runtime: { seed: 1 } });
      runtimeEndpoint = sim.endpoint;
    } else {
      // The floor before the kubelet starts: a running kubelet would clean the floor's pods
      // up as orphans under its feet.
      const fx = await startTestContainerd({ netnsPath: cluster.netnsPath, podSubnet: '172.30.0.0/16' });
      ctd = fx;
      runtimeEndpoint = fx.containerd.endpoint;
      process.stdout.write(`measuring the CRI floor (${pods} pods, 8 in flight)...\n`);
      const cri = connectCri(runtimeEndpoint);
      const floor = await measureCriFloor(cri, { pods, concurrency: 8, image: 'docker.io/library/busybox:1.35', logRoot: join(dir, 'floor-logs'), warmup: 1 });
      cri.close();
      floorMs = floor.start.totalMs;
      process.stdout.write(`floor: ${fmtMs(floorMs)}\n`);
    }
    const node = await startClusterNode(cluster, {
      runtimeEndpoint,
      logLevel: 'warn',
      extraArgs: ['--kube-api-qps', String(qps), '--kube-api-burst', String(burst), '--max-pods', String(Math.max(110, pods + 10))],
    });
    try {
      await eventually(
        'node Ready',
        async () => {
          const n = await cluster.kubectl(['get', 'node', node.name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
          return n.stdout === 'True';
        },
        90_000,
      );

      const admin = await ApiClient.fromKubeconfig(cluster.adminKubeconfig, { qps: 0, burst: 0 });
      const created = new Map<string, number>();
      const running = new Map<string, number>();
      let resolveAll: () => void = () => undefined;
      const allRunning = new Promise<void>((r) => (resolveAll = r));
      const watch = admin.watch<Pod>('/api/v1/namespaces/default/pods', { labelSelector: 'bench=burst', resourceVersion: '0' }, (ev) => {
        const p = ev.object;
        const name = p.metadata.name ?? '';
        if (running.has(name) || p.status?.phase !== 'Running') return;
        if (!(p.status.containerStatuses ?? []).every((c) => c.state.running) || (p.status.containerStatuses ?? []).length === 0) return;
        running.set(name, performance.now());
        if (running.size === pods) resolveAll();
      });
      const cpu0 = procSample(node.kubelet.pid ?? 0);
      let rssPeak = cpu0?.rssMb ?? 0;
      const sampler = setInterval(() => {
        const s = procSample(node.kubelet.pid ?? 0);
        if (s) rssPeak = Math.max(rssPeak, s.rssMb);
        process.stdout.write(`\r  created ${created.size}/${pods}, running ${running.size}/${pods}`);
      }, 500);
      const patchesBefore = /rest_client_requests_total\{code="200",method="PATCH",host=""\} (\d+)/.exec(
        await kubeletMetrics(cluster.nodeIP, cluster.adminKubeconfig).catch(() => ''),
      )?.[1];
      const t0 = performance.now();
      await runBounded(pods, 50, async (i) => {
        const name = `burst-${i}`;
        const body = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, labels: { bench: 'burst' } },
          spec: {
            nodeName: node.name,
            automountServiceAccountToken: false,
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'app', image: 'docker.io/library/busybox:1.35', imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }],
          },
        };
        await admin.post('/api/v1/namespaces/default/pods', body);
        created.set(name, performance.now());
      });
      const createMs = performance.now() - t0;
      await Promise.race([
        allRunning,
        sleep(30 * 60_000).then(() => {
          throw new Error(`only ${running.size}/${pods} Running after 30 min`);
        }),
      ]);
      const allMs = performance.now() - t0;
      clearInterval(sampler);
      watch.stop();
      const cpu1 = procSample(node.kubelet.pid ?? 0);
      await sleep(11_000); // one status reconcile round, so late writes are counted
      const patchesAfter = /rest_client_requests_total\{code="200",method="PATCH",host=""\} (\d+)/.exec(
        await kubeletMetrics(cluster.nodeIP, cluster.adminKubeconfig).catch(() => ''),
      )?.[1];
      process.stdout.write(`\r  created ${created.size}/${pods}, running ${running.size}/${pods}\n`);
      const startup = [...running.entries()].map(([n, t]) => t - (created.get(n) ?? t0));
      const qpsBoundMs = qps > 0 ? (Math.max(0, pods - burst) / qps) * 1000 : 0;
      const result: Result = {
        runtime: kind,
        pods,
        qps,
        burst,
        floorMs,
        allRunningMs: allMs,
        ratioToFloor: floorMs ? allMs / floorMs : undefined,
        qpsBoundMs,
        ratioToQpsBound: qpsBoundMs > 0 ? allMs / qpsBoundMs : undefined,
        startupMs: summarize(startup),
        createMs,
        statusPatchesPerPod: patchesBefore !== undefined && patchesAfter !== undefined ? (Number(patchesAfter) - Number(patchesBefore)) / pods : undefined,
        kubeletCpuSeconds: cpu0 && cpu1 ? cpu1.cpuSeconds - cpu0.cpuSeconds : undefined,
        kubeletRssPeakMb: rssPeak || undefined,
      };
      admin.close();
      const md = [
        `### Burst start from the API server: ${pods} pods on ${kind} (kubelet QPS ${qps}, burst ${burst})`,
        '',
        '| measure | value |',
        '| --- | --- |',
        ...(floorMs ? [`| CRI floor (same run, 8 in flight) | ${fmtMs(floorMs)} |`] : []),
        `| pods created through the API (50 in flight) | ${fmtMs(createMs)} |`,
        `| all Running (observed by watch) | ${fmtMs(allMs)}${result.ratioToFloor ? ` (${result.ratioToFloor.toFixed(2)} x floor)` : ''} |`,
        `| QPS bound (one status write per pod beyond the burst) | ${fmtMs(qpsBoundMs)}${result.ratioToQpsBound ? ` (all Running = ${result.ratioToQpsBound.toFixed(2)} x)` : ''} |`,
        `| startup p50 / p90 / p99 / max | ${fmtMs(result.startupMs.p50)} / ${fmtMs(result.startupMs.p90)} / ${fmtMs(result.startupMs.p99)} / ${fmtMs(result.startupMs.max)} |`,
        `| status PATCHes per pod (kubelet's rest_client_requests_total) | ${result.statusPatchesPerPod?.toFixed(2) ?? '?'} |`,
        `| kubelet CPU during the burst | ${result.kubeletCpuSeconds?.toFixed(1) ?? '?'} s |`,
        `| kubelet peak RSS (all threads) | ${result.kubeletRssPeakMb?.toFixed(0) ?? '?'} MB |`,
        '',
      ].join('\n');
      process.stdout.write(`\n${md}`);
      mkdirSync(outDir, { recursive: true });
      const base = join(outDir, `cluster-burst-${kind}-${pods}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      writeFileSync(
        `${base}.json`,
        `${JSON.stringify({ benchmark: 'cluster-burst', at: new Date().toISOString(), node: process.version, ...result }, null, 2)}\n`,
      );
      writeFileSync(`${base}.md`, md);
      process.stdout.write(`\nreport: ${base}.json, ${base}.md\n`);
    } finally {
      await node.stop();
    }
  } finally {
    await sim?.close();
    await ctd?.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`cluster-burst: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
