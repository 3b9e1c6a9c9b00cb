// The probe scheduler under density: N containers on the simulated runtime, each with a 1 s
// exec liveness probe and a 1 s httpGet readiness probe, on a standalone kubelet-ts (issue 5's
// target: start lateness p99 < 100 ms, main-thread event-loop delay p99 < 20 ms).
//
//   node dist/bench/probes.js --pods 1000 --seconds 30 [--mix both|split]
//
// --mix both (default): every container has both probes (2 probes per container per second);
// --mix split: even pods get the exec liveness probe only, odd pods the httpGet readiness probe
// only (1 probe per container per second, half of each kind).
//
//   bench main thread ........ kubelet-ts (pod workers, bus, status), the measurement
//   kubelet's probe thread .... the probes (what is measured)
//   bench "runtime" thread .... the simulated CRI runtime behind its unix socket (answers the
//                               exec probes' ExecSync) and the pods' HTTP servers
//                               (bench/lib/probe-runtime-thread.ts)
//
// Pod IPs: the sim hands them out from a CIDR; here that CIDR is 127.77.0.0/16, loopback on
// Linux, so httpGet probes go to real sockets on the pods' own addresses through the normal
// code path (no special dialer in the probe thread). The sim gives addresses in order from .2,
// so the runtime thread listens on port 8080 of the first N+16 of them before the pods start.
// The runtime runs on a thread of its own so its work does not count as kubelet main-thread
// delay. Steps: start the runtime thread, start the kubelet, write N manifests, wait until every
// pod is Ready (readiness over HTTP succeeded), reset the probe thread's counters, measure for
// --seconds, report and write JSON + markdown to bench/reports.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { parseFlags } from '../src/cli.js';
import { loadKubeletConfig } from '../src/config/kubelet-config.js';
import { startKubelet } from '../src/kubelet.js';
import { silentLogger } from '../src/log.js';
import { fmtMs } from './lib/stats.js';
import { DEFAULT_MAX_CONCURRENT_PROBES } from '../src/actors/probes/logic.js';

const POD_CIDR = '127.77.0.0/16';
const HTTP_PORT = 8080;

function ask<T>(w: Worker, msg: string, pick: (m: Record<string, unknown>) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: Record<string, unknown>): void => {
      if (typeof m['error'] === 'string') {
        w.off('message', on);
        reject(new Error(m['error']));
        return;
      }
      const v = pick(m);
      if (v === undefined) return;
      w.off('message', on);
      resolve(v);
    };
    w.on('message', on);
    if (msg) w.postMessage(msg);
  });
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), ['pods', 'seconds', 'out', 'mix']);
  const pods = Number(flags.get('pods') ?? '1000');
  const seconds = Number(flags.get('seconds') ?? '30');
  const outDir = flags.get('out') ?? 'bench/reports';
  if (!Number.isInteger(pods) || pods < 1 || pods > 60_000) throw new Error('--pods must be an integer from 1 to 60000');
  const mix = flags.get('mix') ?? 'both';
  if (mix !== 'both' && mix !== 'split') throw new Error('--mix must be both or split');
  const exec = { exec: { command: ['true'] }, periodSeconds: 1 };
  const httpGet = { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 };
  const probesOf = (i: number): Record<string, unknown> =>
    mix === 'both' ? { livenessProbe: exec, readinessProbe: httpGet } : i % 2 === 0 ? { livenessProbe: exec } : { readinessProbe: httpGet };
  const perSecond = mix === 'both' ? pods * 2 : pods;
  const dir = mkdtempSync(join(tmpdir(), 'kts-bench-probes-'));
  const runtime = new Worker(new URL('./lib/probe-runtime-thread.js', import.meta.url), {
    workerData: { socket: join(dir, 'sim.sock'), cidr: POD_CIDR, addresses: pods + 16, port: HTTP_PORT },
    name: 'bench-runtime',
  });
  try {
    const endpoint = await ask(runtime, '', (m) => (typeof m['endpoint'] === 'string' ? m['endpoint'] : undefined));
    process.stdout.write(
      `probes: ${pods} containers, ${mix === 'both' ? 'each with a 1 s exec liveness and a 1 s httpGet readiness probe' : 'half with a 1 s exec liveness probe, half with a 1 s httpGet readiness probe'}; runtime thread at ${endpoint}\n`,
    );
    const manifests = join(dir, 'manifests');
    mkdirSync(manifests);
    const argv = [
      '--pod-manifest-path',
      manifests,
      '--container-runtime-endpoint',
      endpoint,
      '--hostname-override',
      'bench',
      '--root-dir',
      join(dir, 'root'),
      '--authorization-mode',
      'AlwaysAllow',
      '--file-check-frequency',
      '20s',
      '--max-pods',
      String(pods + 10),
    ];
    const kubelet = await startKubelet(loadKubeletConfig(argv).config, silentLogger, { serve: false });
    const ready = new Set<string>();
    let resolveReady: () => void = () => undefined;
    const allReady = new Promise<void>((r) => (resolveReady = r));
    kubelet.bus.subscribe(
      'pod.status',
      (m) => {
        const ok = m.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
        if (ok) ready.add(m.name);
        else ready.delete(m.name);
        if (ready.size === pods) resolveReady();
      },
      { capacity: 100_000 },
    );
    const t0 = performance.now();
    for (let i = 0; i < pods; i++) {
      const name = `probed-${i}`;
      writeFileSync(
        join(manifests, `${name}.json`),
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: 'app',
                image: 'busybox:1.35',
                command: ['sleep', '3600'],
                ports: [{ name: 'http', containerPort: HTTP_PORT }],
                ...probesOf(i),
              },
            ],
          },
        }),
      );
    }
    const progress = setInterval(() => process.stdout.write(`\r  ready ${ready.size}/${pods}`), 500);
    await allReady;
    clearInterval(progress);
    const readyMs = performance.now() - t0;
    process.stdout.write(`\r  ready ${ready.size}/${pods} after ${fmtMs(readyMs)}; measuring ${seconds} s\n`);

    await kubelet.probes.resetStats();
    const before = await kubelet.probes.stats();
    const hits0 = await ask(runtime, 'hits', (m) => (typeof m['hits'] === 'number' ? m['hits'] : undefined));
    const eld = monitorEventLoopDelay({ resolution: 1 });
    eld.enable();
    const cpu0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    eld.disable();
    const cpu = process.cpuUsage(cpu0);
    const stats = await kubelet.probes.stats();
    const hits1 = await ask(runtime, 'hits', (m) => (typeof m['hits'] === 'number' ? m['hits'] : undefined));
    if (!stats) throw new Error('the probe thread is down');
    const stillReady = ready.size;
    await kubelet.stop({ runtime: 'leave' });

    const result = {
      pods,
      mix,
      probes: perSecond,
      seconds,
      maxConcurrent: DEFAULT_MAX_CONCURRENT_PROBES,
      readyAfterMs: readyMs,
      readyAtEnd: stillReady,
      lateness: stats.lateness,
      probeThreadEventLoopDelayMs: stats.eventLoopDelay,
      // The histogram holds the time between its 1 ms timer's runs: the delay is the excess.
      mainEventLoopDelayMs: {
        p50: Math.max(0, eld.percentile(50) / 1e6 - 1),
        p99: Math.max(0, eld.percentile(99) / 1e6 - 1),
        max: Math.max(0, eld.max / 1e6 - 1),
      },
      probesPerSecond: stats.probesPerSecond,
      httpProbesServedPerSecond: (hits1 - hits0) / seconds,
      overrun: stats.overrun - (before?.overrun ?? 0),
      missed: stats.missed - (before?.missed ?? 0),
      processCpuSeconds: (cpu.user + cpu.system) / 1e6,
      targets: { latenessP99Ms: 100, mainEldP99Ms: 20 },
    };
    const pass = (ok: boolean): string => (ok ? 'met' : 'MISSED');
    const md = [
      `### Probes: ${pods} containers, ${mix === 'both' ? 'each 1 s exec + 1 s httpGet' : 'half 1 s exec, half 1 s httpGet'}, on the simulated runtime`,
      '',
      '| measure | value | target |',
      '| --- | --- | --- |',
      `| probe start lateness p50 / p99 / max | ${result.lateness.p50.toFixed(1)} / ${result.lateness.p99.toFixed(1)} / ${result.lateness.max.toFixed(1)} ms (${result.lateness.count} starts) | p99 < 100 ms: ${pass(result.lateness.p99 < 100)} |`,
      `| main-thread event-loop delay p50 / p99 / max | ${result.mainEventLoopDelayMs.p50.toFixed(1)} / ${result.mainEventLoopDelayMs.p99.toFixed(1)} / ${result.mainEventLoopDelayMs.max.toFixed(1)} ms | p99 < 20 ms: ${pass(result.mainEventLoopDelayMs.p99 < 20)} |`,
      `| probe-thread event-loop delay p50 / p99 / max | ${result.probeThreadEventLoopDelayMs.p50.toFixed(1)} / ${result.probeThreadEventLoopDelayMs.p99.toFixed(1)} / ${result.probeThreadEventLoopDelayMs.max.toFixed(1)} ms | |`,
      `| probes completed | ${result.probesPerSecond.toFixed(0)} /s (${result.httpProbesServedPerSecond.toFixed(0)} http/s served) | ${perSecond} /s scheduled |`,
      `| ticks skipped (overrun) / missed | ${result.overrun} / ${result.missed} | |`,
      `| pods Ready at the end | ${result.readyAtEnd}/${pods} (all Ready after ${fmtMs(readyMs)}) | |`,
      `| process CPU over the window (all threads) | ${result.processCpuSeconds.toFixed(1)} s in ${seconds} s | |`,
      '',
    ].join('\n');
    process.stdout.write(`\n${md}`);
    mkdirSync(outDir, { recursive: true });
    const base = join(outDir, `probes-${mix}-${pods}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    writeFileSync(`${base}.json`, `${JSON.stringify({ benchmark: 'probes', at: new Date().toISOString(), node: process.version, ...result }, null, 2)}\n`);
    writeFileSync(`${base}.md`, md);
    process.stdout.write(`\nreport: ${base}.json, ${base}.md\n`);
  } finally {
    await Promise.race([ask(runtime, 'close', (m) => (m['closed'] ? true : undefined)), new Promise((r) => setTimeout(r, 10_000))]);
    await runtime.terminate();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`probes bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
