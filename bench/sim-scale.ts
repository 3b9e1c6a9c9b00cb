// The simulated runtime at scale: do RPCs that name one object stay as fast with 10,000
// containers held as with 100? For each size the sim is filled (pods of 100 containers, nine in
// ten running `sleep infinity`, one in ten exited), then ContainerStatus, CreateContainer and
// StartContainer are timed one call at a time, through the CRI client (in-process transport,
// or the unix socket with --transport socket) and straight on the handler (no serialization),
// plus ListContainers filtered by one sandbox. A benchmark, not a test: it prints figures and
// writes a JSON report; nothing here gates anything.
//
//   node dist/bench/sim-scale.js [--sizes 100,10000] [--samples 1000] [--transport in-process|socket] [--out bench/reports]
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseFlags } from '../src/cli.js';
import { connectCri, type CriClient } from '../src/native/cri/index.js';
import { criMethod } from '../src/native/cri/proto.js';
import { SimRuntime, createSimClient, startSimRuntimeServer } from '../src/sim/index.js';
import { containerConfig, newPod, sandboxConfig, type PodRef } from '../test/helpers/cri-fixtures.js';
import { fmtMs, summarize, type Summary } from './lib/stats.js';

const IMAGE = 'docker.io/library/busybox:1.35';
const PER_POD = 100;

interface SizeResult {
  containers: number;
  fillMs: number;
  client: Record<string, Summary>;
  handler: Record<string, Summary>;
}

async function time<T>(samples: number[], fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const v = await fn();
  samples.push(performance.now() - t0);
  return v;
}

async function measure(size: number, samples: number, transport: 'in-process' | 'socket'): Promise<SizeResult> {
  const sim = new SimRuntime({ seed: 1 });
  let cri: CriClient;
  let closeTransport: () => Promise<void>;
  let dir: string | undefined;
  if (transport === 'socket') {
    dir = mkdtempSync(join(tmpdir(), 'kts-sim-scale-'));
    const server = await startSimRuntimeServer({ listen: `unix://${join(dir, 'sim.sock')}`, runtime: sim });
    cri = connectCri(server.endpoint);
    closeTransport = () => server.close();
  } else {
    cri = createSimClient(sim);
    closeTransport = () => Promise.resolve();
  }
  try {
    const ids: string[] = [];
    const t0 = performance.now();
    for (let p = 0; p * PER_POD < size; p++) {
      const pod = newPod(`fill${p}`);
      const { podSandboxId } = await cri.RunPodSandbox({ config: sandboxConfig(pod, '') });
      for (let c = 0; c < PER_POD && ids.length < size; c++) {
        const cmd = c % 10 === 0 ? ['true'] : ['sleep', 'infinity'];
        const { containerId } = await cri.CreateContainer({
          podSandboxId,
          config: containerConfig(pod, `c${c}`, IMAGE, cmd),
          sandboxConfig: sandboxConfig(pod, ''),
        });
        await cri.StartContainer({ containerId });
        ids.push(containerId);
      }
    }
    const fillMs = performance.now() - t0;

    const client: Record<string, number[]> = { ContainerStatus: [], CreateContainer: [], StartContainer: [], 'ListContainers(sandbox)': [] };
    const handler: Record<string, number[]> = { ContainerStatus: [], CreateContainer: [], StartContainer: [] };
    const pick = (i: number): string => ids[(i * 7919) % ids.length] ?? '';
    // A fresh pod per 100 new containers, so measuring never changes what is measured much.
    let pod: PodRef = newPod('m');
    let sandboxId = '';
    let inPod = PER_POD;
    const nextSlot = async (): Promise<{ pod: PodRef; sandboxId: string; n: number }> => {
      if (inPod >= PER_POD) {
        pod = newPod('m');
        sandboxId = (await cri.RunPodSandbox({ config: sandboxConfig(pod, '') })).podSandboxId;
        inPod = 0;
      }
      return { pod, sandboxId, n: inPod++ };
    };
    for (let i = 0; i < samples; i++) {
      await time(client.ContainerStatus!, () => cri.ContainerStatus({ containerId: pick(i) }));
      const slot = await nextSlot();
      const { containerId } = await time(client.CreateContainer!, () =>
        cri.CreateContainer({
          podSandboxId: slot.sandboxId,
          config: containerConfig(slot.pod, `m${slot.n}`, IMAGE, ['sleep', 'infinity']),
          sandboxConfig: sandboxConfig(slot.pod, ''),
        }),
      );
      await time(client.StartContainer!, () => cri.StartContainer({ containerId }));
      await time(client['ListContainers(sandbox)']!, () => cri.ListContainers({ filter: { podSandboxId: slot.sandboxId } }));
    }
    const createRequest = criMethod('CreateContainer');
    for (let i = 0; i < samples; i++) {
      await time(handler.ContainerStatus!, () => sim.ContainerStatus({ containerId: pick(i + 1), verbose: false }));
      const slot = await nextSlot();
      // The handler takes decoded requests (every field present): decode once, outside the timing.
      const req = createRequest.requestDeserialize(
        createRequest.requestSerialize({
          podSandboxId: slot.sandboxId,
          config: containerConfig(slot.pod, `h${slot.n}`, IMAGE, ['sleep', 'infinity']),
          sandboxConfig: sandboxConfig(slot.pod, ''),
        }),
      ) as Parameters<SimRuntime['CreateContainer']>[0];
      const { containerId } = await time(handler.CreateContainer!, () => sim.CreateContainer(req));
      await time(handler.StartContainer!, () => sim.StartContainer({ containerId: containerId ?? '' }));
    }
    return {
      containers: size,
      fillMs,
      client: Object.fromEntries(Object.entries(client).map(([k, v]) => [k, summarize(v)])),
      handler: Object.fromEntries(Object.entries(handler).map(([k, v]) => [k, summarize(v)])),
    };
  } finally {
    cri.close();
    await closeTransport();
    await sim.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), ['sizes', 'samples', 'transport', 'out']);
  const sizes = (flags.get('sizes') ?? '100,10000').split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--sizes must be positive integers, e.g. 100,10000');
  const samples = Number(flags.get('samples') ?? '1000');
  const transport = flags.get('transport') ?? 'in-process';
  if (transport !== 'in-process' && transport !== 'socket') throw new Error('--transport must be in-process or socket');
  // A throwaway round first: otherwise the first size measured also pays for JIT warm-up and
  // looks slower than it is.
  await measure(100, Math.min(samples, 300), transport);
  const results: SizeResult[] = [];
  for (const size of sizes) {
    process.stdout.write(`filling the sim with ${size} containers (${transport})...\n`);
    results.push(await measure(size, samples, transport));
  }
  const lines = [
    `### sim at scale (${transport}, ${samples} samples per RPC, node ${process.version})`,
    '',
    '| containers | path | RPC | p50 | p90 | p99 | max |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    for (const [path, table] of [
      ['client', r.client],
      ['handler', r.handler],
    ] as const) {
      for (const [rpc, s] of Object.entries(table))
        lines.push(`| ${r.containers} | ${path} | ${rpc} | ${fmtMs(s.p50)} | ${fmtMs(s.p90)} | ${fmtMs(s.p99)} | ${fmtMs(s.max)} |`);
    }
  }
  lines.push(
    '',
    ...results.map((r) => `fill ${r.containers}: ${fmtMs(r.fillMs)} (${((r.containers / r.fillMs) * 1000).toFixed(0)} containers/s created and started)`),
  );
  const first = results[0];
  const last = results[results.length - 1];
  if (first && last && first !== last) {
    for (const rpc of Object.keys(first.client)) {
      const a = first.client[rpc]?.p50 ?? NaN;
      const b = last.client[rpc]?.p50 ?? NaN;
      lines.push(`${rpc} p50 at ${last.containers} / at ${first.containers}: ${(b / a).toFixed(2)}x`);
    }
  }
  const md = `${lines.join('\n')}\n`;
  process.stdout.write(`\n${md}`);
  const outDir = flags.get('out') ?? 'bench/reports';
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `sim-scale-${transport}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ benchmark: 'sim-scale', transport, samples, node: process.version, at: new Date().toISOString(), results }, null, 2)}\n`,
  );
  process.stdout.write(`\nreport: ${file}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`sim-scale: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
