// Burst start of N static pods on a standalone kubelet-ts, quoted against the CRI floor measured
// in the same run on the same runtime (a first piece of the benchmark harness, issue 6).
//
//   node dist/bench/kubelet-burst.js --runtime sim --pods 1000
//   node dist/bench/kubelet-burst.js --runtime containerd --pods 100
//
// Steps: open the runtime (a private managed containerd, or the simulated runtime behind a
// socket); measure the CRI floor for N pods (8 in flight); start kubelet-ts in this process on
// that runtime with an empty static pod folder; write N manifests at once; watch pod.status on
// the kubelet's bus until every pod is Running. Startup latency per pod = manifest written ->
// Running observed. Also: all-Running time, its ratio to the floor, kubelet CPU seconds, RSS
// (process-wide: all threads), main-thread event-loop delay. Writes JSON and markdown reports.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseFlags } from '../src/cli.js';
import { loadKubeletConfig } from '../src/config/kubelet-config.js';
import { startKubelet } from '../src/kubelet.js';
import { silentLogger } from '../src/log.js';
import { connectCri } from '../src/native/cri/index.js';
import { measureCriFloor } from './cri-floor.js';
import { fmtMs, summarize, type Summary } from './lib/stats.js';

interface Result {
  runtime: string;
  pods: number;
  floorMs: number;
  allRunningMs: number;
  ratioToFloor: number;
  startupMs: Summary;
  podsPerSecond: number;
  cpuSeconds: number;
  rssPeakMb: number;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
}

async function openRuntime(kind: string): Promise<{ endpoint: string; close: () => Promise<void> }> {
  if (kind === 'containerd') {
    const { ManagedContainerd, ensureImages } = await import('../src/native/containerd/index.js');
    const stateDir = mkdtempSync('/var/lib/kts-bench-');
    const mc = await ManagedContainerd.start({ stateDir, bridgeName: 'ktsbench0', podSubnet: '10.66.0.0/16' });
    await ensureImages({ endpoint: mc.endpoint });
    return {
      endpoint: mc.endpoint,
      close: async () => {
        await mc.stop({ removePods: true });
        rmSync(stateDir, { recursive: true, force: true });
      },
    };
  }
  if (kind !== 'sim') throw new Error('--runtime must be sim or containerd');
  const { startSimRuntimeServer } = await import('../src/sim/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'kts-bench-sim-'));
  const server = await startSimRuntimeServer({ listen: `unix://${join(dir, 'sim.sock')}`, runtime: { seed: 1 } });
  return {
    endpoint: server.endpoint,
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function removeAll(endpoint: string): Promise<void> {
  const cri = connectCri(endpoint);
  try {
    const { items } = await cri.ListPodSandbox({});
    for (let i = 0; i < items.length; i += 8) {
      await Promise.all(
        items.slice(i, i + 8).map(async (s) => {
          await cri.StopPodSandbox({ podSandboxId: s.id });
          await cri.RemovePodSandbox({ podSandboxId: s.id });
        }),
      );
    }
  } finally {
    cri.close();
  }
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), ['runtime', 'pods', 'out']);
  const kind = flags.get('runtime') ?? 'sim';
  const pods = Number(flags.get('pods') ?? '100');
  if (!Number.isInteger(pods) || pods < 1) throw new Error('--pods must be a positive integer');
  const outDir = flags.get('out') ?? 'bench/reports';
  const rt = await openRuntime(kind);
  const dir = mkdtempSync(join(tmpdir(), 'kts-burst-'));
  try {
    process.stdout.write(`burst start: ${kind}, ${pods} pods\nmeasuring the CRI floor (${pods} pods, 8 in flight)...\n`);
    const cri = connectCri(rt.endpoint);
    const floor = await measureCriFloor(cri, { pods, concurrency: 8, image: 'docker.io/library/busybox:1.35', logRoot: join(dir, 'floor-logs'), warmup: 1 });
    cri.close();
    process.stdout.write(`floor: ${fmtMs(floor.start.totalMs)}\n`);

    const manifests = join(dir, 'manifests');
    mkdirSync(manifests);
    const argv = [
      '--pod-manifest-path',
      manifests,
      '--container-runtime-endpoint',
      rt.endpoint,
      '--hostname-override',
      'bench',
      '--root-dir',
      join(dir, 'root'),
      '--authorization-mode',
      'AlwaysAllow',
      '--file-check-frequency',
      '20s',
      '--max-pods',
      String(Math.max(110, pods + 10)),
    ];
    const kubelet = await startKubelet(loadKubeletConfig(argv).config, silentLogger, { serve: false });
    const written = new Map<string, number>();
    const running = new Map<string, number>();
    let resolveAll: () => void = () => undefined;
    const allRunning = new Promise<void>((r) => (resolveAll = r));
    kubelet.bus.subscribe(
      'pod.status',
      (m) => {
        if (m.status.phase !== 'Running' || running.has(m.name)) return;
        if (!(m.status.containerStatuses ?? []).every((c) => c.state.running)) return;
        running.set(m.name, performance.now());
        if (running.size === pods) resolveAll();
      },
      { capacity: 100_000 },
    );

    const elu = monitorEventLoopDelay({ resolution: 10 });
    elu.enable();
    const cpu0 = process.cpuUsage();
    let rssPeak = process.memoryUsage.rss();
    const rssTimer = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage.rss())), 200);
    const progress = setInterval(() => process.stdout.write(`\r  running ${running.size}/${pods}`), 500);
    const t0 = performance.now();
    for (let i = 0; i < pods; i++) {
      const name = `burst-${i}`;
      writeFileSync(
        join(manifests, `${name}.json`),
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name },
          spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: 'busybox:1.35', command: ['sleep', '3600'] }] },
        }),
      );
      written.set(`${name}-bench`, t0);
    }
    await allRunning;
    const allMs = performance.now() - t0;
    clearInterval(progress);
    clearInterval(rssTimer);
    elu.disable();
    const cpu = process.cpuUsage(cpu0);
    process.stdout.write(`\r  running ${running.size}/${pods}\n`);
    const startup = [...running.entries()].map(([n, t]) => t - (written.get(n) ?? t0));
    const result: Result = {
      runtime: kind,
      pods,
      floorMs: floor.start.totalMs,
      allRunningMs: allMs,
      ratioToFloor: allMs / floor.start.totalMs,
      startupMs: summarize(startup),
      podsPerSecond: pods / (allMs / 1000),
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      rssPeakMb: rssPeak / 1024 / 1024,
      // The histogram holds the time between its 10 ms timer's runs: the delay is the excess.
      eventLoopDelayMs: {
        p50: Math.max(0, elu.percentile(50) / 1e6 - 10),
        p99: Math.max(0, elu.percentile(99) / 1e6 - 10),
        max: Math.max(0, elu.max / 1e6 - 10),
      },
    };
    await kubelet.stop();
    await removeAll(rt.endpoint);

    const md = [
      `### Burst start: ${pods} static pods on ${kind}`,
      '',
      '| measure | value |',
      '| --- | --- |',
      `| CRI floor (same run, 8 in flight) | ${fmtMs(result.floorMs)} |`,
      `| all Running | ${fmtMs(result.allRunningMs)} (${result.ratioToFloor.toFixed(2)} x floor) |`,
      `| startup p50 / p90 / p99 / max | ${fmtMs(result.startupMs.p50)} / ${fmtMs(result.startupMs.p90)} / ${fmtMs(result.startupMs.p99)} / ${fmtMs(result.startupMs.max)} |`,
      `| throughput | ${result.podsPerSecond.toFixed(1)} pods/s |`,
      `| process CPU during the burst | ${result.cpuSeconds.toFixed(2)} s |`,
      `| peak RSS (all threads) | ${result.rssPeakMb.toFixed(0)} MB |`,
      `| main event-loop delay p50 / p99 / max | ${result.eventLoopDelayMs.p50.toFixed(1)} / ${result.eventLoopDelayMs.p99.toFixed(1)} / ${result.eventLoopDelayMs.max.toFixed(1)} ms |`,
      '',
    ].join('\n');
    process.stdout.write(`\n${md}`);
    mkdirSync(outDir, { recursive: true });
    const base = join(outDir, `kubelet-burst-${kind}-${pods}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    writeFileSync(
      `${base}.json`,
      `${JSON.stringify({ benchmark: 'kubelet-burst', at: new Date().toISOString(), node: process.version, ...result, floor }, null, 2)}\n`,
    );
    writeFileSync(`${base}.md`, md);
    process.stdout.write(`\nreport: ${base}.json, ${base}.md\n`);
  } finally {
    await rt.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`kubelet-burst: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
