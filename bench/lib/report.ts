// The harness's outputs from its runs: headline figures as min / median / max over the repeats,
// targets from issue 6 with met / missed and by how much, a markdown summary, and a
// self-contained HTML report (inline SVG charts, no scripts, nothing fetched).
import type { RunResult } from './scenarios.js';
import { fmtMs } from './stats.js';

export interface HarnessReport {
  benchmark: 'harness';
  at: string;
  machine: { node: string; cpus: number; memGb: number; kernel: string };
  config: {
    scenario: string;
    source: string;
    runtime: string;
    pods: number;
    repeat: number;
    durationS: number;
    rate: number;
    crashShare: number;
    qps: number;
    burst: number;
    command: string;
    kubelet?: 'kubelet-ts' | 'go';
  };
  rig: string;
  runs: RunResult[];
  figures: Figure[];
  targets: TargetCheck[];
}

export interface Figure {
  name: string;
  unit: 'ms' | 'x' | 'cores' | 'MB' | 'pods/s' | 'count' | 's';
  min: number;
  median: number;
  max: number;
  values: number[];
}

export interface TargetCheck {
  what: string;
  limit: string;
  measured: string;
  met: boolean;
  /** How far off, when missed ("1.34 x the target"). */
  by: string | undefined;
}

function spread(name: string, unit: Figure['unit'], values: (number | undefined)[]): Figure | undefined {
  const v = values.filter((x): x is number => x !== undefined && Number.isFinite(x));
  if (v.length === 0) return undefined;
  const s = [...v].sort((a, b) => a - b);
  return { name, unit, min: s[0] as number, median: s[Math.floor((s.length - 1) / 2)] as number, max: s[s.length - 1] as number, values: v };
}

export function figuresOf(runs: readonly RunResult[]): Figure[] {
  const f: (Figure | undefined)[] = [
    spread(
      'CRI floor (same runtime, same N, 8 in flight)',
      'ms',
      runs.map((r) => r.floor?.totalMs),
    ),
    spread(
      'burst: all Running',
      'ms',
      runs.map((r) => r.burst.allRunningMs),
    ),
    spread(
      'burst: all Running / CRI floor',
      'x',
      runs.map((r) => r.burst.ratioToFloor),
    ),
    spread(
      'burst: all Running / QPS bound',
      'x',
      runs.map((r) => r.burst.ratioToQpsBound),
    ),
    spread(
      'burst: startup p50',
      'ms',
      runs.map((r) => r.burst.startupMs.p50),
    ),
    spread(
      'burst: startup p90',
      'ms',
      runs.map((r) => r.burst.startupMs.p90),
    ),
    spread(
      'burst: startup p99',
      'ms',
      runs.map((r) => r.burst.startupMs.p99),
    ),
    spread(
      'burst: startup max',
      'ms',
      runs.map((r) => r.burst.startupMs.max),
    ),
    spread(
      'burst: throughput',
      'pods/s',
      runs.map((r) => r.burst.podsPerSecond),
    ),
    spread(
      'burst: status PATCHes per pod',
      'count',
      runs.map((r) => r.burst.statusPatchesPerPod),
    ),
    spread(
      'burst: CRI calls per pod',
      'count',
      runs.map((r) => (r.burst.criCallsPerPod ? Object.values(r.burst.criCallsPerPod).reduce((a, b) => a + b, 0) : undefined)),
    ),
    spread(
      'steady: kubelet CPU',
      'cores',
      runs.map((r) => r.steady?.kubeletCores),
    ),
    spread(
      'steady: kubelet RSS (mean)',
      'MB',
      runs.map((r) => r.steady?.kubeletRssMb),
    ),
    spread(
      'steady: runtime CPU',
      'cores',
      runs.map((r) => r.steady?.runtimeCores),
    ),
    spread(
      'steady: CRI calls per pod per minute',
      'count',
      runs.map((r) => r.steady?.criCallsPerPodPerMinute),
    ),
    spread(
      'churn: startup p50',
      'ms',
      runs.map((r) => r.churn?.startupMs.p50),
    ),
    spread(
      'churn: startup p99',
      'ms',
      runs.map((r) => r.churn?.startupMs.p99),
    ),
    spread(
      'churn: deletion p50',
      'ms',
      runs.map((r) => r.churn?.deleteMs.p50),
    ),
    spread(
      'churn: deletion p99',
      'ms',
      runs.map((r) => r.churn?.deleteMs.p99),
    ),
    spread(
      'crash: sync latency p50 (exit -> status)',
      'ms',
      runs.map((r) => r.crash?.syncMs.p50),
    ),
    spread(
      'crash: sync latency p99',
      'ms',
      runs.map((r) => r.crash?.syncMs.p99),
    ),
    spread(
      'crash: restart latency p99 (exit -> running)',
      'ms',
      runs.map((r) => r.crash?.restartMs.p99),
    ),
    spread(
      'crash: all restarted',
      'ms',
      runs.map((r) => r.crash?.allRestartedMs),
    ),
    spread(
      'kubelet CPU, whole run',
      's',
      runs.map((r) => r.cpu.kubeletSeconds),
    ),
    spread(
      'kubelet peak RSS (all threads)',
      'MB',
      runs.map((r) => r.rss.kubeletPeakMb),
    ),
    spread(
      'runtime CPU, whole run',
      's',
      runs.map((r) => r.cpu.runtimeSeconds),
    ),
    spread(
      'main thread event-loop delay, worst 5 s p99',
      'ms',
      runs.map((r) => r.threads.find((t) => t.thread === 'main')?.delayP99MaxMs),
    ),
    spread(
      'bus messages dropped',
      'count',
      runs.map((r) => r.bus?.dropped),
    ),
    spread(
      'bus queue depth, max seen',
      'count',
      runs.map((r) => r.bus?.queueDepthMax),
    ),
  ];
  return f.filter((x): x is Figure => x !== undefined);
}

function fmt(v: number, unit: Figure['unit']): string {
  switch (unit) {
    case 'ms':
      return fmtMs(v);
    case 'x':
      return `${v.toFixed(2)} x`;
    case 'cores':
      return `${v.toFixed(3)} cores`;
    case 'MB':
      return `${v.toFixed(0)} MB`;
    case 'pods/s':
      return `${v.toFixed(1)} pods/s`;
    case 's':
      return `${v.toFixed(1)} s`;
    case 'count':
      return Number.isInteger(v) ? String(v) : v.toFixed(2);
  }
}

export function fmtFigure(f: Figure): string {
  return f.min === f.max ? fmt(f.median, f.unit) : `${fmt(f.min, f.unit)} / ${fmt(f.median, f.unit)} / ${fmt(f.max, f.unit)}`;
}

/** The targets of issue 6 that apply to this configuration, checked on the medians. */
export function checkTargets(cfg: HarnessReport['config'], figures: readonly Figure[]): TargetCheck[] {
  // The targets are kubelet-ts's; a run of the Go kubelet is the comparison, not a candidate.
  if (cfg.kubelet === 'go') return [];
  const med = (name: string): number | undefined => figures.find((f) => f.name === name)?.median;
  const out: TargetCheck[] = [];
  const add = (what: string, limit: number, measured: number | undefined, unit: Figure['unit'], limitText?: string): void => {
    if (measured === undefined) return;
    out.push({
      what,
      limit: limitText ?? fmt(limit, unit),
      measured: fmt(measured, unit),
      met: measured <= limit,
      by: measured <= limit ? undefined : `${(measured / limit).toFixed(2)} x the target`,
    });
  };
  const api = cfg.source !== 'static';
  if (cfg.runtime === 'containerd' && api) {
    add('all Running / CRI floor (burst from the API server; Go kubelet v1.20.2 here: about 2.1 x)', 1.15, med('burst: all Running / CRI floor'), 'x');
    const floor = med('CRI floor (same runtime, same N, 8 in flight)');
    if (floor !== undefined) add('startup p99 within 1.15 x the floor', 1.15 * floor, med('burst: startup p99'), 'ms');
  }
  if (cfg.runtime.startsWith('sim') && !api) {
    add('burst: startup p99 (sim, static pods)', 1000, med('burst: startup p99'), 'ms');
    add('burst: all Running (sim, static pods)', 3000, med('burst: all Running'), 'ms');
  }
  if (cfg.runtime.startsWith('sim') && api) add('all Running / QPS bound (sim from the API server)', 1.2, med('burst: all Running / QPS bound'), 'x');
  if (cfg.runtime.startsWith('sim') && cfg.scenario === 'crash')
    add(`crash: sync latency p99 at ${cfg.pods} running pods (target at 1000)`, 50, med('crash: sync latency p99'), 'ms');
  if (cfg.runtime === 'containerd' && cfg.scenario === 'steady') {
    add(`steady: kubelet CPU at ${cfg.pods} pods (target at 300; Go kubelet about 0.18)`, 0.03, med('steady: kubelet CPU'), 'cores');
    add(`steady: kubelet RSS at ${cfg.pods} pods, all threads (target at 300; Go kubelet about 190 MB)`, 150, med('steady: kubelet RSS (mean)'), 'MB');
  }
  return out;
}

export function markdownOf(r: HarnessReport): string {
  const c = r.config;
  const lines = [
    `### ${c.scenario}: ${c.pods} pods, ${c.source} source, ${c.runtime} (${r.runs.length} run${r.runs.length === 1 ? '' : 's'})`,
    '',
    `${r.rig}. ${r.at.slice(0, 10)}, ${r.machine.cpus} cores, Node ${r.machine.node}. Command: \`${c.command}\``,
    '',
    `| figure | ${r.runs.length > 1 ? 'min / median / max' : 'value'} |`,
    '| --- | --- |',
    ...r.figures.map((f) => `| ${f.name} | ${fmtFigure(f)} |`),
    '',
  ];
  if (r.targets.length > 0) {
    lines.push('| target | limit | measured (median) | |', '| --- | --- | --- | --- |');
    for (const t of r.targets) lines.push(`| ${t.what} | ${t.limit} | ${t.measured} | ${t.met ? 'met' : `missed: ${t.by ?? ''}`} |`);
    lines.push('');
  }
  const first = r.runs[0];
  if (first && first.threads.length > 0) {
    lines.push('Per thread (first run): CPU seconds, worst 5 s p99 event-loop delay, peak committed V8 heap (young generation):', '');
    lines.push(
      first.threads
        .map((t) => `${t.thread} ${t.cpuSeconds.toFixed(1)} s, ${t.delayP99MaxMs.toFixed(1)} ms, ${t.heapPeakMb.toFixed(0)} MB (${t.youngPeakMb.toFixed(0)})`)
        .join('; '),
      '',
    );
  }
  if (first?.steady?.threadCores) {
    lines.push(
      `Steady-state CPU by thread (first run, cores): ${Object.entries(first.steady.threadCores)
        .map(([k, v]) => `${k} ${v.toFixed(4)}`)
        .join(', ')}`,
      '',
    );
  }
  if (first?.burst.criCallsPerPod) {
    lines.push(
      `CRI calls per pod during the burst (first run): ${Object.entries(first.burst.criCallsPerPod)
        .sort()
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(', ')}`,
      '',
    );
  }
  return lines.join('\n');
}

// ---- SVG charts ----

interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  dashed?: boolean;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceStep(range: number, ticks: number): number {
  const raw = range / Math.max(1, ticks);
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const n = raw / mag;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
}

function tickLabel(v: number): string {
  if (Math.abs(v) >= 1000) return `${(v / 1000).toFixed(v % 1000 === 0 ? 0 : 1)}k`;
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(v < 0.1 ? 3 : v < 1 ? 2 : 1);
}

/** Downsamples a long series to at most `max` points (keeps the first, the last, and peaks). */
function thin(points: readonly (readonly [number, number])[], max = 600): (readonly [number, number])[] {
  if (points.length <= max) return [...points];
  const step = points.length / max;
  const out: (readonly [number, number])[] = [];
  for (let i = 0; i < max; i++) {
    const chunk = points.slice(Math.floor(i * step), Math.floor((i + 1) * step));
    let best = chunk[0];
    for (const p of chunk) if (best && p[1] > best[1]) best = p;
    if (best) out.push(best);
  }
  const last = points[points.length - 1];
  if (last) out.push(last);
  return out;
}

export function lineChart(o: { id: string; title: string; xLabel: string; yLabel: string; series: readonly Series[]; yMax?: number }): string {
  const W = 640;
  const H = 300;
  const L = 64;
  const R = 16;
  const T = 30;
  const B = 44;
  const all = o.series.flatMap((s) => s.points);
  const xMax0 = Math.max(1e-9, ...all.map((p) => p[0]));
  const yMax0 = o.yMax ?? Math.max(1e-9, ...all.map((p) => p[1]));
  const xs = niceStep(xMax0, 6);
  const ys = niceStep(yMax0, 5);
  const xMax = Math.ceil(xMax0 / xs) * xs;
  const yMax = Math.ceil(yMax0 / ys) * ys || ys;
  const px = (x: number): number => L + (x / xMax) * (W - L - R);
  const py = (y: number): number => H - B - (Math.min(y, yMax) / yMax) * (H - T - B);
  const parts: string[] = [];
  parts.push(
    `<svg class="chart" id="${esc(o.id)}" data-series="${o.series.length}" data-points="${all.length}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">`,
  );
  parts.push(`<text x="${W / 2}" y="18" text-anchor="middle" class="title">${esc(o.title)}</text>`);
  for (let x = 0; x <= xMax + 1e-9; x += xs)
    parts.push(
      `<line x1="${px(x)}" y1="${T}" x2="${px(x)}" y2="${H - B}" class="grid"/><text x="${px(x)}" y="${H - B + 16}" text-anchor="middle" class="tick">${tickLabel(x)}</text>`,
    );
  for (let y = 0; y <= yMax + 1e-9; y += ys)
    parts.push(
      `<line x1="${L}" y1="${py(y)}" x2="${W - R}" y2="${py(y)}" class="grid"/><text x="${L - 6}" y="${py(y) + 4}" text-anchor="end" class="tick">${tickLabel(y)}</text>`,
    );
  parts.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" class="axis"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" class="axis"/>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle" class="label">${esc(o.xLabel)}</text>`);
  parts.push(`<text x="14" y="${(T + H - B) / 2}" text-anchor="middle" class="label" transform="rotate(-90 14 ${(T + H - B) / 2})">${esc(o.yLabel)}</text>`);
  o.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] ?? '#000';
    const pts = thin(s.points)
      .map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`)
      .join(' ');
    if (pts)
      parts.push(
        `<polyline class="series" data-name="${esc(s.name)}" fill="none" stroke="${color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${pts}"/>`,
      );
    const ly = T + 4 + i * 14;
    parts.push(
      `<line x1="${W - R - 150}" y1="${ly}" x2="${W - R - 134}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/><text x="${W - R - 130}" y="${ly + 4}" class="legend">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Empirical CDF points of samples (ms). */
export function cdf(samples: readonly number[]): [number, number][] {
  const s = [...samples].sort((a, b) => a - b);
  return s.map((v, i) => [v, (i + 1) / s.length]);
}

function sec(ms: readonly number[]): number[] {
  return ms.map((v) => v / 1000);
}

export function htmlOf(r: HarnessReport): string {
  const c = r.config;
  const runs = r.runs;
  const charts: string[] = [];
  charts.push(
    lineChart({
      id: 'startup-cdf',
      title: 'Burst: pod startup latency, CDF',
      xLabel: 'startup latency (s)',
      yLabel: 'share of pods',
      yMax: 1,
      series: runs.map((x) => ({ name: `run ${x.repeat}`, points: cdf(sec(x.burst.startupSamples)) })),
    }),
  );
  charts.push(
    lineChart({
      id: 'running',
      title: 'Pods Running over time',
      xLabel: 'time since start (s)',
      yLabel: 'pods Running',
      series: runs.map((x) => ({ name: `run ${x.repeat}`, points: x.timeline.t.map((t, i) => [t, x.timeline.running[i] ?? 0] as const) })),
    }),
  );
  charts.push(
    lineChart({
      id: 'cpu',
      title: 'CPU (cores): kubelet solid, runtime dashed',
      xLabel: 'time since start (s)',
      yLabel: 'cores',
      series: runs.flatMap((x) => [
        { name: `kubelet, run ${x.repeat}`, points: x.timeline.t.map((t, i) => [t, x.timeline.kubeletCores[i] ?? 0] as const) },
        { name: `runtime, run ${x.repeat}`, dashed: true, points: x.timeline.t.map((t, i) => [t, x.timeline.runtimeCores[i] ?? 0] as const) },
      ]),
    }),
  );
  charts.push(
    lineChart({
      id: 'rss',
      title: 'RSS (MB): kubelet solid, runtime dashed',
      xLabel: 'time since start (s)',
      yLabel: 'MB',
      series: runs.flatMap((x) => [
        { name: `kubelet, run ${x.repeat}`, points: x.timeline.t.map((t, i) => [t, x.timeline.kubeletRssMb[i] ?? 0] as const) },
        { name: `runtime, run ${x.repeat}`, dashed: true, points: x.timeline.t.map((t, i) => [t, x.timeline.runtimeRssMb[i] ?? 0] as const) },
      ]),
    }),
  );
  const first = runs[0];
  if (first && Object.keys(first.threadDelay).length > 0) {
    charts.push(
      lineChart({
        id: 'thread-delay',
        title: 'Event-loop delay p99 per thread (5 s windows, run 1)',
        xLabel: 'time since start (s)',
        yLabel: 'ms',
        series: Object.entries(first.threadDelay).map(([name, pts]) => ({ name, points: pts })),
      }),
    );
  }
  if (runs.some((x) => x.churn)) {
    charts.push(
      lineChart({
        id: 'churn-cdf',
        title: 'Churn: startup (solid) and deletion (dashed) latency, CDF',
        xLabel: 'latency (s)',
        yLabel: 'share of pods',
        yMax: 1,
        series: runs.flatMap((x) =>
          x.churn
            ? [
                { name: `startup, run ${x.repeat}`, points: cdf(sec(x.churn.startupSamples)) },
                { name: `deletion, run ${x.repeat}`, dashed: true, points: cdf(sec(x.churn.deleteSamples)) },
              ]
            : [],
        ),
      }),
    );
  }
  if (runs.some((x) => x.crash)) {
    charts.push(
      lineChart({
        id: 'crash-cdf',
        title: 'Crash storm: exit to status (solid), exit to running (dashed), CDF',
        xLabel: 'latency (s)',
        yLabel: 'share of crashed pods',
        yMax: 1,
        series: runs.flatMap((x) =>
          x.crash
            ? [
                { name: `status, run ${x.repeat}`, points: cdf(sec(x.crash.syncSamples)) },
                { name: `running, run ${x.repeat}`, dashed: true, points: cdf(sec(x.crash.restartSamples)) },
              ]
            : [],
        ),
      }),
    );
  }
  const figureRows = r.figures.map((f) => `<tr><td>${esc(f.name)}</td><td>${esc(fmtFigure(f))}</td></tr>`).join('');
  const targetRows = r.targets
    .map(
      (t) =>
        `<tr class="${t.met ? 'met' : 'missed'}"><td>${esc(t.what)}</td><td>${esc(t.limit)}</td><td>${esc(t.measured)}</td><td>${t.met ? 'met' : `missed: ${esc(t.by ?? '')}`}</td></tr>`,
    )
    .join('');
  const threadRows = runs
    .flatMap((x) =>
      x.threads.map(
        (t) =>
          `<tr><td>${x.repeat}</td><td>${esc(t.thread)}</td><td>${t.cpuSeconds.toFixed(2)} s</td><td>${t.delayP99MaxMs.toFixed(1)} ms</td><td>${t.delayMaxMs.toFixed(1)} ms</td><td>${t.heapPeakMb.toFixed(0)} MB (${t.youngPeakMb.toFixed(0)} MB)</td></tr>`,
      ),
    )
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kubelet-ts harness: ${esc(c.scenario)} ${c.pods} pods, ${esc(c.source)}, ${esc(c.runtime)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1340px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
tr.met td:last-child{color:#1a7f37}tr.missed td:last-child{color:#c62828;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:12px}
svg.chart{border:1px solid #ddd;background:#fff}
svg .title{font-size:13px;font-weight:600}svg .tick,svg .legend{font-size:10px;fill:#444}svg .label{font-size:11px;fill:#222}
svg .grid{stroke:#eee}svg .axis{stroke:#888}
code{background:#f4f4f4;padding:1px 4px}
</style></head><body>
<h1>kubelet-ts benchmark: ${esc(c.scenario)}, ${c.pods} pods, ${esc(c.source)} source, ${esc(c.runtime)}</h1>
<p>${esc(r.rig)}.<br>${esc(r.at)}; ${r.machine.cpus} cores, ${r.machine.memGb.toFixed(0)} GB, Node ${esc(r.machine.node)}, kernel ${esc(r.machine.kernel)}; ${runs.length} run(s).<br>Command: <code>${esc(c.command)}</code></p>
<h2>Figures (min / median / max over the runs)</h2>
<table id="figures"><tr><th>figure</th><th>value</th></tr>${figureRows}</table>
${targetRows ? `<h2>Targets (issue 6)</h2><table id="targets"><tr><th>target</th><th>limit</th><th>measured (median)</th><th></th></tr>${targetRows}</table>` : ''}
<h2>Charts</h2>
<div class="charts">${charts.join('\n')}</div>
${threadRows ? `<h2>Threads</h2><table id="threads"><tr><th>run</th><th>thread</th><th>CPU</th><th>worst 5 s p99 delay</th><th>max delay</th><th>peak V8 heap (young)</th></tr>${threadRows}</table>` : ''}
</body></html>
`;
}
