// The benchmark harness (issue 6): one command runs a scenario against a kubelet, some number
// of times, and writes a JSON result, a markdown summary and a self-contained HTML report.
//
//   node dist/bench/harness.js --scenario burst --source static --runtime sim --pods 1000 --repeat 3
//   node dist/bench/harness.js --scenario burst --source api --runtime containerd --pods 300
//   node dist/bench/harness.js --scenario steady --source api --runtime containerd --pods 300 --duration 60
//   node dist/bench/harness.js --scenario churn --source static --runtime sim --pods 300 --rate 10 --duration 30
//   node dist/bench/harness.js --scenario crash --source static --runtime sim --pods 1000 --crash-share 0.5
//   node dist/bench/harness.js --scenario burst --source external --kubeconfig K --node NAME [--kubelet-pid PID]
//   node dist/bench/harness.js --scenario burst --source api --runtime containerd --pods 300 --kubelet go   # the Go kubelet v1.20.2, same rig
//
// Flags: --scenario burst|steady|churn|crash; --source static|api|external; --runtime sim|sim-embedded|containerd;
// --pods N; --repeat R (each run is a fresh rig: runtime, cluster, kubelet); --duration S (steady,
// churn; default 60 / 30); --settle S (default 10); --rate N per s (churn, default 10);
// --crash-share F (default 0.5); --kube-api-qps / --kube-api-burst (the kubelet's, default 50 / 100);
// --floor / --no-floor (the CRI floor first; default on containerd); --timeout S (default 600);
// --out DIR (default bench/reports); --kubelet-arg FLAG=VALUE (repeatable, to the kubelet);
// --kubelet kubelet-ts|go (api source: which kubelet serves the node; go needs
// `KTS_K8S_EXTRA=kubelet bash scripts/ensure-k8s.sh` once).
// See bench/README.md.
import { cpus, totalmem, release } from 'node:os';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { openRig, type RigOptions, type RuntimeChoice, type SourceKind } from './lib/rig.js';
import { runScenario, SCENARIOS, type ProgressSink, type RunResult, type Scenario, type ScenarioOptions } from './lib/scenarios.js';
import { checkTargets, figuresOf, htmlOf, markdownOf, type HarnessReport } from './lib/report.js';

export class UsageError extends Error {}

export interface HarnessArgs {
  scenario: Scenario;
  source: SourceKind;
  runtime: RuntimeChoice;
  pods: number;
  repeat: number;
  durationS: number;
  settleS: number;
  rate: number;
  crashShare: number;
  qps: number;
  burst: number;
  floor: boolean;
  timeoutS: number;
  out: string;
  kubeletArgs: string[];
  kubeconfig: string | undefined;
  node: string | undefined;
  kubeletPid: number | undefined;
  runtimeEndpoint: string | undefined;
  kubelet: 'kubelet-ts' | 'go';
}

const VALUE_FLAGS = [
  'kubelet',
  'scenario',
  'source',
  'runtime',
  'pods',
  'repeat',
  'duration',
  'settle',
  'rate',
  'crash-share',
  'kube-api-qps',
  'kube-api-burst',
  'timeout',
  'out',
  'kubelet-arg',
  'kubeconfig',
  'node',
  'kubelet-pid',
  'container-runtime-endpoint',
];

function num(v: string | undefined, flag: string, def: number, check: (n: number) => boolean, what: string): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || !check(n)) throw new UsageError(`--${flag} ${v}: want ${what}`);
  return n;
}

/** Parses the harness's flags; every mistake is a UsageError naming the flag. */
export function parseHarnessArgs(argv: readonly string[]): HarnessArgs {
  const values = new Map<string, string>();
  const kubeletArgs: string[] = [];
  let floor: boolean | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(a)}; flags are --name value`);
    const eq = a.indexOf('=');
    const name = a.slice(2, eq >= 0 ? eq : undefined);
    if (name === 'floor' || name === 'no-floor') {
      floor = name === 'floor';
      continue;
    }
    if (!VALUE_FLAGS.includes(name))
      throw new UsageError(`unknown flag --${name}; known: ${[...VALUE_FLAGS, 'floor', 'no-floor'].map((f) => `--${f}`).join(' ')}`);
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    // Passed on as written: `--flag=value` is the one form every flag takes (a bool's value cannot be a separate argument).
    if (name === 'kubelet-arg') kubeletArgs.push(value);
    else values.set(name, value);
  }
  const scenario = (values.get('scenario') ?? 'burst') as Scenario;
  if (!SCENARIOS.includes(scenario)) throw new UsageError(`--scenario ${scenario}: want one of ${SCENARIOS.join(', ')}`);
  const source = (values.get('source') ?? 'static') as SourceKind;
  if (!['static', 'api', 'external'].includes(source)) throw new UsageError(`--source ${source}: want static, api or external`);
  // An external node runs whatever runtime it runs: say so unless told (--runtime containerd picks the containerd targets).
  const runtime = (values.get('runtime') ?? (source === 'external' ? 'external' : 'sim')) as RuntimeChoice;
  if (!['sim', 'sim-embedded', 'containerd'].includes(runtime) && !(runtime === 'external' && source === 'external'))
    throw new UsageError(`--runtime ${runtime}: want sim, sim-embedded or containerd`);
  if (runtime === 'sim-embedded' && source !== 'static') throw new UsageError('--runtime sim-embedded (the sim inside the kubelet) is for --source static');
  const kubeconfig = values.get('kubeconfig');
  const node = values.get('node');
  if (source === 'external' && (!kubeconfig || !node)) throw new UsageError('--source external needs --kubeconfig FILE and --node NAME');
  if (source !== 'external' && (kubeconfig || node))
    throw new UsageError('--kubeconfig and --node are for --source external (the api source makes its own cluster)');
  const kubelet = values.get('kubelet') ?? 'kubelet-ts';
  if (kubelet !== 'kubelet-ts' && kubelet !== 'go') throw new UsageError(`--kubelet ${kubelet}: want kubelet-ts or go`);
  if (kubelet === 'go' && (source !== 'api' || runtime !== 'containerd'))
    throw new UsageError('--kubelet go runs the Go kubelet as the node of the api source, on containerd (--source api --runtime containerd)');
  const int = (n: number): boolean => Number.isInteger(n) && n > 0;
  return {
    kubelet,
    scenario,
    source,
    runtime,
    pods: num(values.get('pods'), 'pods', 100, int, 'a positive integer'),
    repeat: num(values.get('repeat'), 'repeat', 1, int, 'a positive integer'),
    durationS: num(values.get('duration'), 'duration', scenario === 'steady' ? 60 : 30, (n) => n > 0, 'seconds > 0'),
    settleS: num(values.get('settle'), 'settle', 10, (n) => n >= 0, 'seconds >= 0'),
    rate: num(values.get('rate'), 'rate', 10, int, 'pods per second, a positive integer'),
    crashShare: num(values.get('crash-share'), 'crash-share', 0.5, (n) => n > 0 && n <= 1, 'a share in (0, 1]'),
    qps: num(values.get('kube-api-qps'), 'kube-api-qps', 50, (n) => n >= 0, 'a number >= 0'),
    burst: num(values.get('kube-api-burst'), 'kube-api-burst', 100, (n) => Number.isInteger(n) && n >= 0, 'an integer >= 0'),
    // Not on an external node by default: its running kubelet would remove the floor's pods as orphans.
    floor: floor ?? (runtime === 'containerd' && source !== 'external'),
    timeoutS: num(values.get('timeout'), 'timeout', 600, (n) => n > 0, 'seconds > 0'),
    out: values.get('out') ?? 'bench/reports',
    kubeletArgs,
    kubeconfig,
    node,
    kubeletPid: values.has('kubelet-pid') ? num(values.get('kubelet-pid'), 'kubelet-pid', 0, int, 'a process id') : undefined,
    runtimeEndpoint: values.get('container-runtime-endpoint'),
  };
}

/** The live display: a bar, Running / total, the rate, the kubelet's CPU and RSS. One line on a terminal; a line every 5 s otherwise. */
export function progressDisplay(label: string, out: NodeJS.WriteStream = process.stderr): ProgressSink {
  const tty = out.isTTY === true;
  let lastLine = 0;
  let lastRunning = 0;
  let lastAt = Date.now();
  let rate = 0;
  let shown = false;
  return {
    update(s) {
      const now = Date.now();
      if (now - lastAt >= 1000) {
        rate = ((s.running - lastRunning) * 1000) / (now - lastAt);
        lastRunning = s.running;
        lastAt = now;
      }
      if (!tty && now - lastLine < 5000) return;
      lastLine = now;
      const width = 30;
      const filled = Math.round((Math.min(s.running, s.total) / Math.max(1, s.total)) * width);
      const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${s.running}/${s.total} Running, ${s.created} created, ${rate.toFixed(0)} pods/s, kubelet ${s.kubeletCores.toFixed(2)} cores ${s.kubeletRssMb.toFixed(0)} MB (${s.phase})`;
      if (tty) out.write(`\r${line.padEnd(150).slice(0, Math.max(150, line.length))}`);
      else out.write(`${line}\n`);
      shown = true;
    },
    done() {
      if (tty && shown) out.write('\n');
    },
  };
}

export async function runHarness(
  args: HarnessArgs,
  log: (l: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<{ report: HarnessReport; files: { json: string; md: string; html: string } }> {
  const runs: RunResult[] = [];
  let rigText = '';
  for (let i = 1; i <= args.repeat; i++) {
    log(`run ${i}/${args.repeat}: ${args.scenario}, ${args.pods} pods, ${args.source} source, ${args.runtime}`);
    const rigOpts: RigOptions = {
      source: args.source,
      runtime: args.runtime,
      pods: args.pods,
      qps: args.qps,
      burst: args.burst,
      floor: args.floor,
      kubeconfig: args.kubeconfig,
      node: args.node,
      kubeletPid: args.kubeletPid,
      runtimeEndpoint: args.runtimeEndpoint,
      kubeletArgs: args.kubeletArgs,
      kubelet: args.kubelet,
      log,
    };
    const rig = await openRig(rigOpts);
    rigText = rig.describe;
    try {
      const so: ScenarioOptions = {
        scenario: args.scenario,
        pods: args.pods,
        durationS: args.durationS,
        settleS: args.settleS,
        rate: args.rate,
        crashShare: args.crashShare,
        createConcurrency: args.source === 'static' ? 16 : 50,
        timeoutS: args.timeoutS,
        qps: args.qps,
        burst: args.burst,
      };
      runs.push(await runScenario(rig, so, i, progressDisplay(`run ${i}`)));
    } finally {
      await rig.close();
    }
  }
  const config: HarnessReport['config'] = {
    scenario: args.scenario,
    source: args.source,
    runtime: args.runtime,
    pods: args.pods,
    repeat: args.repeat,
    durationS: args.durationS,
    rate: args.rate,
    crashShare: args.crashShare,
    qps: args.qps,
    burst: args.burst,
    command: `node dist/bench/harness.js ${process.argv.slice(2).join(' ')}`.trim(),
    kubelet: args.kubelet,
  };
  const figures = figuresOf(runs);
  const report: HarnessReport = {
    benchmark: 'harness',
    at: new Date().toISOString(),
    machine: { node: process.version, cpus: cpus().length, memGb: totalmem() / 1024 ** 3, kernel: release() },
    config,
    rig: rigText,
    runs,
    figures,
    targets: checkTargets(config, figures),
  };
  const files = writeReports(report, args.out);
  return { report, files };
}

export function writeReports(report: HarnessReport, outDir: string): { json: string; md: string; html: string } {
  mkdirSync(outDir, { recursive: true });
  const c = report.config;
  const base = join(outDir, `harness-${c.scenario}-${c.source}-${c.runtime}${c.kubelet === 'go' ? '-go' : ''}-${c.pods}-${report.at.replace(/[:.]/g, '-')}`);
  const files = { json: `${base}.json`, md: `${base}.md`, html: `${base}.html` };
  writeFileSync(files.json, `${JSON.stringify(report, null, 1)}\n`);
  writeFileSync(files.md, markdownOf(report));
  writeFileSync(files.html, htmlOf(report));
  return files;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (isMain) {
  let args: HarnessArgs;
  try {
    args = parseHarnessArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`harness: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
  runHarness(args).then(
    ({ report, files }) => {
      process.stdout.write(`\n${markdownOf(report)}\nreports: ${files.json}\n         ${files.md}\n         ${files.html}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`harness: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
