// The eviction watcher at density (issue 19's targets): N running pods on the simulated runtime,
// the watcher thread with upstream's default interval (10 s) and its 500 ms quick check, and:
//   - reaction: the node's memory is pushed below evictionHard memory.available; the time from
//     that moment to the victim's evict message (target: p99 <= 1 s; upstream polls every 10 s and
//     then syncs), over --trials crossings, each relieved by stopping the victim as a kill would;
//   - the stats summary served (bus request stats.summary, what GET /stats/summary answers from;
//     target p99 <= 50 ms), over --calls calls;
//   - the watcher thread's CPU while the node is idle, over --idle seconds (target <= 0.005 core).
//
//   node dist/bench/eviction.js --pods 1000 [--trials 20] [--calls 200] [--idle 30] [--out DIR]
//
// The sim runs in this process (its work is not the watcher's); the thread's CPU is read from
// /proc for its own thread id (native/thread-stats). Writes JSON and markdown to bench/reports.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, release } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { parseFlags } from '../src/cli.js';
import { Bus } from '../src/bus/index.js';
import { EvictionActor } from '../src/actors/eviction/handle.js';
import { parseEvictionSettings } from '../src/eviction/thresholds.js';
import { collectThreadStats } from '../src/native/thread-stats.js';
import { SimRuntime } from '../src/sim/index.js';
import type { Pod } from '../src/api/core-v1.js';
import { fmtMs, runBounded, summarize } from './lib/stats.js';

const Mi = 2 ** 20;

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), ['pods', 'trials', 'calls', 'idle', 'out', 'quick-check-ms']);
  const n = Number(flags.get('pods') ?? '1000');
  const trials = Number(flags.get('trials') ?? '20');
  const calls = Number(flags.get('calls') ?? '200');
  const idleS = Number(flags.get('idle') ?? '30');
  const outDir = flags.get('out') ?? 'bench/reports';

  const sim = new SimRuntime({ seed: 42 });
  const bus = new Bus({ name: 'bench' });
  const registry = new Registry();
  const threads = collectThreadStats(registry);
  const pods = new Map<string, { sandbox: string; container: string; name: string }>();
  console.log(`starting ${n} pods on the sim`);
  await runBounded(n, 16, async (i) => {
    const uid = `evict-bench-${i}`;
    const name = `p${i}`;
    const labels = { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.pod.uid': uid };
    const sbConfig = { metadata: { name, namespace: 'default', uid, attempt: 0 }, labels, annotations: {}, logDirectory: `/tmp/kts-evict-bench/${uid}` };
    const sb = await sim.RunPodSandbox({ config: sbConfig, runtimeHandler: '' } as never);
    const c = await sim.CreateContainer({
      podSandboxId: sb.podSandboxId,
      config: {
        metadata: { name: 'app', attempt: 0 },
        image: { image: 'busybox:1.35' },
        command: ['sleep', '3600'],
        args: [],
        workingDir: '',
        envs: [],
        mounts: [],
        labels: { ...labels, 'io.kubernetes.container.name': 'app' },
        annotations: {},
        logPath: 'app/0.log',
      },
      sandboxConfig: sbConfig,
    } as never);
    await sim.StartContainer({ containerId: c.containerId } as never);
    pods.set(uid, { sandbox: sb.podSandboxId ?? '', container: c.containerId ?? '', name });
  });

  const { settings } = parseEvictionSettings({
    evictionHard: { 'memory.available': '1Gi' },
    evictionSoft: {},
    evictionSoftGracePeriod: {},
    evictionMinimumReclaim: {},
    evictionMaxPodGracePeriod: 0,
    evictionPressureTransitionPeriod: 300_000,
  });
  const evictions: { uid: string; at: number }[] = [];
  const actor: EvictionActor = new EvictionActor({
    runtime: { embedded: sim, name: 'sim' },
    bus,
    settings,
    nodeName: 'bench',
    rootDir: '/tmp',
    podLogsDir: '/tmp/kts-evict-bench-logs',
    intervalMs: 10_000,
    ...(flags.get('quick-check-ms') !== undefined ? { quickCheckMs: Number(flags.get('quick-check-ms')) } : {}),
    simNode: true,
    evict: (m) => {
      evictions.push({ uid: m.uid, at: Date.now() });
      // The kill, as the pod workers would do it: the container stops (its memory comes back), then the watcher hears it.
      const p = pods.get(m.uid);
      void (async () => {
        if (p) await sim.StopContainer({ containerId: p.container, timeout: 0 });
        actor.forget(m.uid);
        await bus.call('eviction.evicted', { uid: m.uid });
      })();
    },
    reclaim: () => Promise.resolve(0),
  });
  for (const [uid, p] of pods) {
    const pod: Pod = {
      metadata: { uid, name: p.name, namespace: 'default', annotations: { 'kubernetes.io/config.source': 'api' } },
      spec: { containers: [{ name: 'app', image: 'busybox:1.35' }] },
    };
    actor.track(pod);
  }
  actor.start();
  const deadline = Date.now() + 60_000;
  while ((await bus.call('eviction.state', {}).catch(() => undefined))?.pods !== n) {
    if (Date.now() > deadline) throw new Error('the watcher never took every pod');
    await sleep(100);
  }
  await bus.call('eviction.observe', {});

  // Idle: nothing changes; the thread does its rounds and quick checks.
  const cpuOf = (): number => threads.snapshot().find((t) => t.thread === 'eviction')?.cpuSeconds ?? NaN;
  await sleep(2000);
  const c0 = cpuOf();
  const t0 = Date.now();
  await sleep(idleS * 1000);
  const idleCores = (cpuOf() - c0) / ((Date.now() - t0) / 1000);
  console.log(`idle: ${idleCores.toFixed(4)} core over ${idleS} s`);

  // Summary latency.
  const lat: number[] = [];
  for (let i = 0; i < calls; i++) {
    const s = performance.now();
    const r = await bus.call('stats.summary', {});
    lat.push(performance.now() - s);
    if (i === 0 && r.summary.pods.length < n - trials) throw new Error(`summary has ${r.summary.pods.length} pods`);
  }
  const summaryLat = summarize(lat);
  console.log(`stats.summary: p50 ${fmtMs(summaryLat.p50)}, p99 ${fmtMs(summaryLat.p99)} over ${calls} calls`);

  // Reaction to a threshold crossed.
  const reaction: number[] = [];
  for (let i = 0; i < trials; i++) {
    const used = sim.nodeFigures.memory.availableBytes - sim.effectiveNodeFigures().memory.availableBytes;
    const before = evictions.length;
    const at = Date.now();
    sim.setNodeFigures({ memory: { availableBytes: used + 512 * Mi } });
    while (evictions.length === before) {
      if (Date.now() - at > 30_000) throw new Error(`trial ${i}: no eviction in 30 s`);
      await sleep(5);
    }
    reaction.push((evictions[before]?.at ?? NaN) - at);
    sim.setNodeFigures({ memory: { availableBytes: 500 * 2 ** 30 } });
    // Let the watcher see the node recover (the threshold resolves) before the next crossing.
    await sleep(1200);
  }
  const reactionS = summarize(reaction);
  console.log(`reaction (crossing -> evict): p50 ${fmtMs(reactionS.p50)}, p99 ${fmtMs(reactionS.p99)}, max ${fmtMs(reactionS.max)} over ${trials} crossings`);

  await actor.stop();
  threads.close();
  bus.close();
  await sim.close();

  const report = {
    benchmark: 'eviction',
    at: new Date().toISOString(),
    machine: { node: process.version, cpus: cpus().length, memGb: Math.round(totalmem() / 2 ** 30), kernel: release() },
    config: { pods: n, trials, calls, idleS, command: `node dist/bench/eviction.js ${process.argv.slice(2).join(' ')}`.trim() },
    idleCores,
    summaryMs: summaryLat,
    reactionMs: reactionS,
    targets: [
      { name: 'crossing -> evict p99', limit: '1 s', measured: fmtMs(reactionS.p99), met: reactionS.p99 <= 1000 },
      { name: 'stats summary p99', limit: '50 ms', measured: fmtMs(summaryLat.p99), met: summaryLat.p99 <= 50 },
      { name: 'watcher thread idle', limit: '0.005 core', measured: `${idleCores.toFixed(4)} core`, met: idleCores <= 0.005 },
    ],
  };
  const md = [
    `# Eviction watcher at ${n} pods (${report.at})`,
    '',
    `\`${report.config.command}\``,
    '',
    '| target | limit | measured | |',
    '| --- | --- | --- | --- |',
    ...report.targets.map((t) => `| ${t.name} | ${t.limit} | ${t.measured} | ${t.met ? 'met' : 'missed'} |`),
    '',
    `reaction: p50 ${fmtMs(reactionS.p50)}, max ${fmtMs(reactionS.max)}; summary: p50 ${fmtMs(summaryLat.p50)}, max ${fmtMs(summaryLat.max)}`,
    '',
  ].join('\n');
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `eviction-${n}-${report.at.replace(/[:.]/g, '-')}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${base}.md`, md);
  console.log(md);
  console.log(`reports: ${base}.json, ${base}.md`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
