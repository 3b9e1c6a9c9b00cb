// Pod sources against the pod workers and the runtime (issue 16, findings 6 and 9), on a
// standalone kubelet-ts in this process with the embedded simulated runtime.
//
//   node dist/bench/source-churn.js --scenario churn  --seconds 60 --watch 120
//   node dist/bench/source-churn.js --scenario delete --pods 300 --grace 2 [--containers 1]
//
// churn: one static manifest rewritten every 100 ms for --seconds s (each rewrite changes the
// content, so the pod's UID); then, every 5 s for up to --watch s, what the sources want, what
// the workers hold (what /pods shows) and what the runtime runs, until all three agree.
// delete: --pods manifests (--containers containers each, ignoring SIGTERM so StopContainer
// waits the whole grace), all Running, then all removed at once: the time until the workers
// and the runtime hold none. Also counts "pod kill failed" log lines.
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { parseFlags } from '../src/cli.js';
import { loadKubeletConfig } from '../src/config/kubelet-config.js';
import { startKubelet, type Kubelet } from '../src/kubelet.js';
import { createCriClient, InProcessCriTransport, type CriClient } from '../src/native/cri/index.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Counts log lines by message (warn and above) instead of printing them. */
function countingLogger(): { log: pino.Logger; counts: Map<string, number>; errors: Map<string, Set<string>> } {
  const counts = new Map<string, number>();
  const errors = new Map<string, Set<string>>();
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        const entry = JSON.parse(line) as { msg?: string; err?: unknown; errors?: unknown };
        const m = entry.msg ?? '';
        counts.set(m, (counts.get(m) ?? 0) + 1);
        // A few distinct causes per message (IDs cut off so that alike errors count once).
        const why = JSON.stringify(entry.err ?? entry.errors ?? '')
          .replace(/[0-9a-f]{12,}/g, '<id>')
          .slice(0, 200);
        const seen = errors.get(m) ?? new Set<string>();
        if (seen.size < 5) seen.add(why);
        errors.set(m, seen);
      }
      cb();
    },
  });
  return { log: pino({ level: 'warn' }, sink), counts, errors };
}

async function runtimeCounts(cri: CriClient): Promise<{ sandboxes: number; containers: number }> {
  const sb = await cri.ListPodSandbox({ filter: { state: { state: 'SANDBOX_READY' } } });
  const cs = await cri.ListContainers({ filter: { state: { state: 'CONTAINER_RUNNING' } } });
  return { sandboxes: sb.items.length, containers: cs.containers.length };
}

function manifest(name: string, containers: number, grace: number, salt: string): string {
  const cs = Array.from({ length: containers }, (_, i) => ({ name: `c${i}`, image: 'busybox:1.35', command: ['sleep', '3600'] }));
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, annotations: { salt } },
    spec: { terminationGracePeriodSeconds: grace, containers: cs },
  });
}

async function churn(k: Kubelet, cri: CriClient, manifests: string, seconds: number, watchSeconds: number): Promise<void> {
  const file = join(manifests, 'churn.json');
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < seconds * 1000) {
    writeFileSync(file, manifest('churn', 1, 2, String(n++)));
    await sleep(100);
  }
  process.stdout.write(`${n} rewrites in ${seconds} s; then (t = s after the last rewrite):\n`);
  process.stdout.write('t\tsources\tworkers\tsyncing\tterminating\tterminated\truntime sandboxes\truntime containers\n');
  const tEnd = performance.now();
  for (;;) {
    const c = k.workers.counts();
    const rt = await runtimeCounts(cri);
    const t = (performance.now() - tEnd) / 1000;
    process.stdout.write(
      `${t.toFixed(0)}\t${k.config.size}\t${k.workers.size}\t${c.syncing}\t${c.terminating}\t${c.terminated}\t${rt.sandboxes}\t${rt.containers}\n`,
    );
    if (k.workers.size === k.config.size && rt.sandboxes === k.config.size && c.syncing === k.config.size) {
      process.stdout.write(`converged ${t.toFixed(1)} s after the last rewrite\n`);
      return;
    }
    if (t > watchSeconds) {
      process.stdout.write(`NOT converged after ${watchSeconds} s\n`);
      return;
    }
    await sleep(5000);
  }
}

async function deleteAll(k: Kubelet, cri: CriClient, manifests: string, pods: number, containers: number, grace: number): Promise<void> {
  for (let i = 0; i < pods; i++) writeFileSync(join(manifests, `p${i}.json`), manifest(`p${i}`, containers, grace, 'x'));
  const tw = performance.now();
  for (;;) {
    const running = k.workers.all().filter((w) => w.status?.phase === 'Running').length;
    if (running === pods) break;
    await sleep(500);
  }
  process.stdout.write(
    `${pods} pods x ${containers} containers Running in ${((performance.now() - tw) / 1000).toFixed(1)} s; removing all (grace ${grace} s)\n`,
  );
  const t0 = performance.now();
  for (let i = 0; i < pods; i++) unlinkSync(join(manifests, `p${i}.json`));
  let runtimeGone: number | undefined;
  let workersGone: number | undefined;
  while (runtimeGone === undefined || workersGone === undefined) {
    await sleep(250);
    const t = (performance.now() - t0) / 1000;
    if (workersGone === undefined && k.workers.size === 0) workersGone = t;
    if (runtimeGone === undefined && (await runtimeCounts(cri)).sandboxes === 0) runtimeGone = t;
    if (t > 600) break;
  }
  process.stdout.write(
    `runtime holds no ready sandbox after ${runtimeGone?.toFixed(1) ?? '>600'} s; /pods empty after ${workersGone?.toFixed(1) ?? '>600'} s\n`,
  );
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), ['scenario', 'seconds', 'watch', 'pods', 'grace', 'containers']);
  const scenario = flags.get('scenario') ?? 'churn';
  const dir = mkdtempSync(join(tmpdir(), 'kts-source-churn-'));
  const manifests = join(dir, 'manifests');
  mkdirSync(manifests);
  const { log, counts, errors } = countingLogger();
  const argv = [
    '--pod-manifest-path',
    manifests,
    '--embedded-runtime',
    'sim',
    '--hostname-override',
    'bench',
    '--root-dir',
    join(dir, 'root'),
    '--authorization-mode',
    'AlwaysAllow',
    '--file-check-frequency',
    '1s',
    '--max-pods',
    '2000',
  ];
  const k = await startKubelet(loadKubeletConfig(argv).config, log, { serve: false });
  if (!k.embeddedSim) throw new Error('no embedded sim');
  const cri = createCriClient(new InProcessCriTransport(k.embeddedSim, 'sim'), { runtimeRequestTimeoutMs: 30_000 });
  try {
    if (scenario === 'churn') await churn(k, cri, manifests, Number(flags.get('seconds') ?? '60'), Number(flags.get('watch') ?? '120'));
    else if (scenario === 'delete')
      await deleteAll(k, cri, manifests, Number(flags.get('pods') ?? '300'), Number(flags.get('containers') ?? '1'), Number(flags.get('grace') ?? '2'));
    else throw new Error('--scenario must be churn or delete');
    process.stdout.write(`log lines (warn+): ${JSON.stringify(Object.fromEntries(counts))}\n`);
    for (const [m, whys] of errors) process.stdout.write(`  ${m}: ${[...whys].join(' | ')}\n`);
  } finally {
    cri.close();
    await k.stop({ runtime: 'stop' });
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
