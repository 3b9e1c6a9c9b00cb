// The benchmark harness end to end on the simulated runtime (two short crash-storm runs of 20
// static pods: every chart kind has data), then its HTML report rendered in headless Chromium
// (Debian's package, driven by playwright-core): a screenshot is taken, the charts are in the
// page, each is drawn (coloured pixels where its lines are), and the page asks for nothing but
// itself. Also the harness's flag parsing, the Prometheus text reader and the target checks.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseHarnessArgs, runHarness, UsageError } from '../../bench/harness.js';
import { checkTargets, figuresOf, type HarnessReport } from '../../bench/lib/report.js';
import { parsePromText, promBy, promSum } from '../../bench/lib/prom-text.js';

const CHROMIUM = '/usr/bin/chromium';

/** In the page: each chart's id, series count, laid-out width and each line's bounding box. */
const CHART_SHAPES = `[...document.querySelectorAll('svg.chart')].map((s) => ({
  id: s.id,
  series: s.querySelectorAll('polyline.series').length,
  w: s.getBoundingClientRect().width,
  lines: [...s.querySelectorAll('polyline.series')].map((p) => { const b = p.getBBox(); return [b.width, b.height]; }),
}))`;

/** In the page: each chart rasterized on a canvas, and the count of clearly coloured pixels (series, not grey axes). */
const COLOURED_PIXELS = `Promise.all([...document.querySelectorAll('svg.chart')].map(async (s) => {
  const img = new Image();
  img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(new XMLSerializer().serializeToString(s));
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) n++;
  return n;
}))`;

describe('harness flags', () => {
  it('takes the documented flags with their defaults', () => {
    const a = parseHarnessArgs([
      '--scenario',
      'churn',
      '--source=api',
      '--runtime',
      'containerd',
      '--pods',
      '300',
      '--rate',
      '5',
      '--kubelet-arg',
      '--sync-frequency=30s',
    ]);
    assert.equal(a.scenario, 'churn');
    assert.equal(a.source, 'api');
    assert.equal(a.pods, 300);
    assert.equal(a.rate, 5);
    assert.equal(a.durationS, 30);
    assert.equal(a.floor, true, 'containerd measures the floor by default');
    assert.deepEqual(a.kubeletArgs, ['--sync-frequency=30s']);
    assert.deepEqual(parseHarnessArgs(['--kubelet-arg', '--evented-pleg=false']).kubeletArgs, ['--evented-pleg=false'], 'a bool flag keeps its =value');
    assert.equal(parseHarnessArgs(['--runtime', 'containerd', '--no-floor']).floor, false);
    assert.equal(parseHarnessArgs([]).floor, false);
    assert.equal(parseHarnessArgs(['--scenario', 'steady']).durationS, 60);
    const ext = parseHarnessArgs(['--source', 'external', '--kubeconfig', 'k', '--node', 'n1', '--kubelet-pid', '42']);
    assert.deepEqual([ext.runtime, ext.kubeletPid, ext.floor], ['external', 42, false], "an external node's runtime is its own");
    assert.equal(
      parseHarnessArgs(['--source', 'external', '--kubeconfig', 'k', '--node', 'n1', '--runtime', 'containerd']).floor,
      false,
      'no floor under a running kubelet unless asked',
    );
    assert.equal(parseHarnessArgs([]).kubelet, 'kubelet-ts');
    const go = parseHarnessArgs(['--source', 'api', '--runtime', 'containerd', '--kubelet', 'go']);
    assert.deepEqual([go.kubelet, go.floor], ['go', true], 'the Go kubelet gets the same floor in the same run');
  });

  it('refuses bad flags with a message naming the flag', () => {
    const bad: [string[], RegExp][] = [
      [['--scenario', 'nap'], /--scenario nap: want one of burst, steady, churn, crash/],
      [['--pods', '0'], /--pods 0: want a positive integer/],
      [['--pods', 'many'], /--pods many/],
      [['--crash-share', '2'], /--crash-share 2: want a share in \(0, 1\]/],
      [['--runtime', 'docker'], /--runtime docker: want sim, sim-embedded or containerd/],
      [['--runtime', 'external'], /--runtime external: want sim, sim-embedded or containerd/],
      [['--runtime', 'sim-embedded', '--source', 'api'], /is for --source static/],
      [['--frobnicate', '1'], /unknown flag --frobnicate/],
      [['--kubelet', 'rust'], /--kubelet rust: want kubelet-ts or go/],
      [['--kubelet', 'go', '--source', 'static'], /--kubelet go runs the Go kubelet as the node of the api source/],
      [['--pods'], /--pods needs a value/],
      [['--source', 'external'], /needs --kubeconfig FILE and --node NAME/],
      [['--node', 'n1'], /are for --source external/],
      [['stray'], /unexpected argument "stray"/],
    ];
    for (const [argv, re] of bad)
      assert.throws(
        () => parseHarnessArgs(argv),
        (err: unknown) => err instanceof UsageError && re.test(err.message),
        argv.join(' '),
      );
  });
});

describe('Prometheus text reader', () => {
  it('reads samples with labels, escapes and sums', () => {
    const s = parsePromText(
      [
        '# HELP kubelet_runtime_operations_total x',
        '# TYPE kubelet_runtime_operations_total counter',
        'kubelet_runtime_operations_total{operation_type="list_containers"} 12',
        'kubelet_runtime_operations_total{operation_type="run_podsandbox"} 3',
        'rest_client_requests_total{code="200",method="PATCH",host=""} 7',
        'rest_client_requests_total{code="409",method="PATCH",host="a\\"b"} 2',
        'up 1',
        'garbage line',
      ].join('\n'),
    );
    assert.equal(promSum(s, 'rest_client_requests_total', { method: 'PATCH' }), 9);
    assert.equal(promSum(s, 'rest_client_requests_total', { code: '200' }), 7);
    assert.deepEqual(
      [...promBy(s, 'kubelet_runtime_operations_total', 'operation_type')],
      [
        ['list_containers', 12],
        ['run_podsandbox', 3],
      ],
    );
    assert.equal(s.find((x) => x.labels.code === '409')?.labels.host, 'a"b');
    assert.equal(promSum(s, 'up'), 1);
  });
});

describe('target checks', () => {
  it('says met or missed and by how much, on the medians', () => {
    const cfg = {
      scenario: 'burst',
      source: 'static',
      runtime: 'sim',
      pods: 1000,
      repeat: 3,
      durationS: 30,
      rate: 10,
      crashShare: 0.5,
      qps: 50,
      burst: 100,
      command: 'x',
    };
    const figs = [
      { name: 'burst: startup p99', unit: 'ms' as const, min: 500, median: 1500, max: 2000, values: [500, 1500, 2000] },
      { name: 'burst: all Running', unit: 'ms' as const, min: 2000, median: 2500, max: 2600, values: [2000, 2500, 2600] },
    ];
    const t = checkTargets(cfg, figs);
    assert.equal(t.length, 2);
    assert.deepEqual([t[0]?.met, t[0]?.by], [false, '1.50 x the target']);
    assert.equal(t[1]?.met, true);
    assert.deepEqual(checkTargets({ ...cfg, source: 'api', runtime: 'containerd' }, figs), [], 'no containerd figures, nothing to check');
  });
});

describe('harness on the simulated runtime, report in headless Chromium', () => {
  let out: string;
  let report: HarnessReport;
  let files: { json: string; md: string; html: string };
  before(async () => {
    out = mkdtempSync(join(tmpdir(), 'kts-harness-test-'));
    const args = parseHarnessArgs([
      '--scenario',
      'crash',
      '--source',
      'static',
      '--runtime',
      'sim',
      '--pods',
      '20',
      '--repeat',
      '2',
      '--settle',
      '6',
      '--crash-share',
      '0.5',
      '--timeout',
      '120',
      '--out',
      out,
    ]);
    ({ report, files } = await runHarness(args, () => undefined));
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  it('measures every run and writes JSON, markdown and HTML', () => {
    assert.equal(report.runs.length, 2);
    for (const r of report.runs) {
      assert.equal(r.burst.startupSamples.length, 20);
      assert.ok(r.burst.allRunningMs > 0 && r.burst.startupMs.p99 <= r.burst.allRunningMs + 1);
      assert.equal(r.crash?.crashed, 10);
      assert.equal(r.crash.syncSamples.length, 10);
      assert.ok(
        r.crash.syncSamples.every((s) => s > 0),
        'a crash is seen after it happened',
      );
      assert.ok(r.crash.restartMs.p50 >= r.crash.syncMs.p50, 'running again comes after the exit was seen');
      assert.ok(r.timeline.t.length >= 4, 'CPU and RSS sampled over time');
      assert.ok(r.rss.kubeletPeakMb > 30 && r.rss.runtimePeakMb > 10);
      assert.ok(r.cpu.runtimeSeconds > 0, 'the sim runs as its own process');
      const threads = r.threads.map((t) => t.thread);
      for (const t of ['main', 'pleg', 'probe']) assert.ok(threads.includes(t), `thread ${t} in ${threads.join(',')}`);
      assert.ok(threads.some((t) => t.startsWith('sync-')));
      assert.ok(r.burst.criCallsPerPod && (r.burst.criCallsPerPod.run_podsandbox ?? 0) >= 1, JSON.stringify(r.burst.criCallsPerPod));
      assert.equal(r.bus?.dropped, 0);
    }
    const allRunning = report.figures.find((f) => f.name === 'burst: all Running');
    assert.ok(allRunning && allRunning.values.length === 2 && allRunning.min <= allRunning.median && allRunning.median <= allRunning.max);
    const json = JSON.parse(readFileSync(files.json, 'utf8')) as HarnessReport;
    assert.equal(json.runs.length, 2);
    assert.deepEqual(
      figuresOf(json.runs).map((f) => f.name),
      report.figures.map((f) => f.name),
    );
    const md = readFileSync(files.md, 'utf8');
    assert.match(md, /\| burst: startup p99 \| [\d.]+ m?s \/ [\d.]+ m?s \/ [\d.]+ m?s \|/);
    assert.match(md, /crash: sync latency p99 at 20 running pods/);
  });

  it('renders the HTML report with its charts in headless Chromium', async () => {
    if (!existsSync(CHROMIUM)) assert.fail(`${CHROMIUM} is missing: install Debian's chromium package (bash scripts/ensure-deps.sh does)`);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      const url = pathToFileURL(files.html).href;
      await page.goto(url);
      const shot = join(out, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 30_000, `screenshot ${statSync(shot).size} bytes`);
      assert.deepEqual(
        requests.filter((u) => u !== url),
        [],
        'the report fetches nothing',
      );

      // Browser-side code as text: this project compiles without the DOM library.
      const charts = await page.evaluate<{ id: string; series: number; w: number; lines: [number, number][] }[]>(CHART_SHAPES);
      const ids = charts.map((c) => c.id);
      for (const id of ['startup-cdf', 'running', 'cpu', 'rss', 'thread-delay', 'crash-cdf']) assert.ok(ids.includes(id), `chart ${id} in ${ids.join(',')}`);
      for (const c of charts) {
        assert.ok(c.w >= 600, `${c.id} laid out ${c.w} px wide`);
        assert.ok(c.series >= 1, `${c.id} has lines`);
        assert.ok(
          c.lines.some(([w, h]) => Math.max(w, h) > 40),
          `${c.id}: a line with extent (a CDF of equal samples is vertical), got ${JSON.stringify(c.lines)}`,
        );
      }
      // Drawn, not just present: rasterize each chart and count pixels in the series colours.
      const coloured = await page.evaluate<number[]>(COLOURED_PIXELS);
      coloured.forEach((n, i) => assert.ok(n > 150, `chart ${ids[i] ?? i}: ${n} coloured pixels`));
      assert.match(await page.title(), /kubelet-ts harness: crash 20 pods, static, sim/);
      assert.ok((await page.$$('#figures tr')).length > 10);
      assert.ok((await page.$$('#targets tr')).length >= 2);
    } finally {
      await browser.close();
    }
  });
});
