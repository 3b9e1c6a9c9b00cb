// The CRI floor benchmark: N pods (one sandbox + one container each) started directly through
// CRI at a chosen concurrency, then torn down, with no kubelet in the way. Every later kubelet
// figure is quoted against this floor: it is the fastest any kubelet could start these pods on
// this runtime and machine.
//
//   node dist/bench/cri-floor.js --runtime containerd --pods 100 --concurrency 8
//   node dist/bench/cri-floor.js --runtime sim --pods 100 --concurrency 8
//   node dist/bench/cri-floor.js --runtime sim-socket ...       (the sim behind its unix socket)
//   node dist/bench/cri-floor.js --endpoint unix:///run/containerd/containerd.sock --image busybox:1.35
//
// Per pod: RunPodSandbox, CreateContainer, StartContainer (the "start" latency), later
// StopPodSandbox and RemovePodSandbox (the "teardown" latency). Prints p50/p90/p99/max and the
// total wall time of each phase, and writes JSON and markdown reports under bench/reports/.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseFlags } from '../src/cli.js';
import type { CriClient } from '../src/native/cri/index.js';
import { containerConfig, newPod, sandboxConfig } from '../test/helpers/cri-fixtures.js';
import { fmtMs, runBounded, summarize, type Summary } from './lib/stats.js';
import { openRuntime, RUNTIME_KINDS, type RuntimeKind } from './lib/runtimes.js';

export interface FloorOptions {
  pods: number;
  concurrency: number;
  image: string;
  logRoot: string;
  /** Pods started and removed before measuring (first-call costs: connections, caches). */
  warmup: number;
}

export interface FloorResult {
  pods: number;
  concurrency: number;
  start: { totalMs: number; podsPerSecond: number; latencyMs: Summary; perCallMs: Record<string, Summary> };
  teardown: { totalMs: number; latencyMs: Summary };
}

/** Runs the floor on an open CRI client. Exported for the kubelet benchmarks, which quote it. */
export async function measureCriFloor(cri: CriClient, opts: FloorOptions): Promise<FloorResult> {
  const startPod = async (calls?: Record<string, number[]>): Promise<string> => {
    const pod = newPod('floor');
    const config = sandboxConfig(pod, opts.logRoot);
    let t = performance.now();
    const mark = (name: string): void => {
      const now = performance.now();
      calls?.[name]?.push(now - t);
      t = now;
    };
    const { podSandboxId } = await cri.RunPodSandbox({ config });
    mark('RunPodSandbox');
    const { containerId } = await cri.CreateContainer({
      podSandboxId,
      config: containerConfig(pod, 'app', opts.image, ['sleep', '3600']),
      sandboxConfig: config,
    });
    mark('CreateContainer');
    await cri.StartContainer({ containerId });
    mark('StartContainer');
    return podSandboxId;
  };
  const removePod = async (id: string): Promise<void> => {
    await cri.StopPodSandbox({ podSandboxId: id });
    await cri.RemovePodSandbox({ podSandboxId: id });
  };

  for (let i = 0; i < opts.warmup; i++) await removePod(await startPod());

  const sandboxes: string[] = new Array<string>(opts.pods);
  const startLatency: number[] = [];
  const calls: Record<string, number[]> = { RunPodSandbox: [], CreateContainer: [], StartContainer: [] };
  const t0 = performance.now();
  await runBounded(opts.pods, opts.concurrency, async (i) => {
    const begin = performance.now();
    sandboxes[i] = await startPod(calls);
    startLatency.push(performance.now() - begin);
  });
  const startTotal = performance.now() - t0;

  const teardownLatency: number[] = [];
  const t1 = performance.now();
  await runBounded(opts.pods, opts.concurrency, async (i) => {
    const begin = performance.now();
    await removePod(sandboxes[i] ?? '');
    teardownLatency.push(performance.now() - begin);
  });
  const teardownTotal = performance.now() - t1;

  return {
    pods: opts.pods,
    concurrency: opts.concurrency,
    start: {
      totalMs: startTotal,
      podsPerSecond: opts.pods / (startTotal / 1000),
      latencyMs: summarize(startLatency),
      perCallMs: Object.fromEntries(Object.entries(calls).map(([k, v]) => [k, summarize(v)])),
    },
    teardown: { totalMs: teardownTotal, latencyMs: summarize(teardownLatency) },
  };
}

function row(name: string, s: Summary, total?: number): string {
  return `| ${name} | ${s.count} | ${fmtMs(s.p50)} | ${fmtMs(s.p90)} | ${fmtMs(s.p99)} | ${fmtMs(s.max)} | ${total === undefined ? '' : fmtMs(total)} |`;
}

export function floorMarkdown(runtime: string, version: string, r: FloorResult): string {
  return [
    `### CRI floor: ${runtime} (${version}), ${r.pods} pods, ${r.concurrency} in flight`,
    '',
    '| phase | n | p50 | p90 | p99 | max | total |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    row('start (sandbox + create + start)', r.start.latencyMs, r.start.totalMs),
    ...Object.entries(r.start.perCallMs).map(([k, s]) => row(`  ${k}`, s)),
    row('teardown (stop + remove sandbox)', r.teardown.latencyMs, r.teardown.totalMs),
    '',
    `Throughput: ${r.start.podsPerSecond.toFixed(1)} pods/s started.`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), ['runtime', 'endpoint', 'image', 'pods', 'concurrency', 'warmup', 'out', 'state-dir']);
  const endpoint = flags.get('endpoint');
  const kind = (endpoint ? 'endpoint' : (flags.get('runtime') ?? 'sim')) as RuntimeKind;
  if (!RUNTIME_KINDS.includes(kind)) throw new Error(`--runtime must be one of ${RUNTIME_KINDS.join(', ')}`);
  const pods = Number(flags.get('pods') ?? '100');
  const concurrency = Number(flags.get('concurrency') ?? '8');
  const warmup = Number(flags.get('warmup') ?? '1');
  if (!Number.isInteger(pods) || pods < 1) throw new Error('--pods must be a positive integer');
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('--concurrency must be a positive integer');
  const outDir = flags.get('out') ?? 'bench/reports';

  const rt = await openRuntime(kind, { endpoint, image: flags.get('image'), stateDir: flags.get('state-dir') });
  const logRoot = mkdtempSync(join(tmpdir(), 'kts-floor-logs-'));
  try {
    const version = await rt.cri.Version({ version: 'v1' });
    const versionText = `${version.runtimeName} ${version.runtimeVersion}`;
    process.stdout.write(`CRI floor: ${kind} (${versionText}), ${pods} pods, ${concurrency} in flight, image ${rt.image}\n`);
    const result = await measureCriFloor(rt.cri, { pods, concurrency, image: rt.image, logRoot, warmup });
    const md = floorMarkdown(kind, versionText, result);
    process.stdout.write(`\n${md}`);
    mkdirSync(outDir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const base = join(outDir, `cri-floor-${kind}-${pods}-${stamp}`);
    const report = {
      benchmark: 'cri-floor',
      runtime: kind,
      runtimeVersion: versionText,
      image: rt.image,
      at: new Date().toISOString(),
      node: process.version,
      ...result,
    };
    writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(`${base}.md`, md);
    process.stdout.write(`\nreport: ${base}.json, ${base}.md\n`);
  } finally {
    // The runtime first: it may still be writing container logs under logRoot.
    await rt.close();
    rmSync(logRoot, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`cri-floor: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
