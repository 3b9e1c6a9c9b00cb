// Eviction settings as upstream parses them: signals, quantities and percentages, soft grace
// periods, minimum reclaim; bad settings refused with the setting's name (through the config
// loader, as the kubelet refuses to start on them), and the met / resolved arithmetic.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadKubeletConfig, KubeletConfigError } from '../../src/config/kubelet-config.js';
import { parseEvictionSettings, parseThresholdValue, thresholdMet, type EvictionConfig, type Threshold } from '../../src/eviction/thresholds.js';

const base: EvictionConfig = {
  evictionHard: {},
  evictionSoft: {},
  evictionSoftGracePeriod: {},
  evictionMinimumReclaim: {},
  evictionMaxPodGracePeriod: 0,
  evictionPressureTransitionPeriod: 300_000,
};

function problemsOf(argv: string[]): string[] {
  try {
    loadKubeletConfig(argv);
    return [];
  } catch (err) {
    assert.ok(err instanceof KubeletConfigError, String(err));
    return [...err.problems];
  }
}

describe('eviction thresholds', () => {
  it('parses quantities and percentages; 0% and 100% switch a threshold off', () => {
    const table: [string, ReturnType<typeof parseThresholdValue>][] = [
      ['100Mi', { quantity: 100 * 2 ** 20 }],
      ['1G', { quantity: 1e9 }],
      ['1000', { quantity: 1000 }],
      ['10%', { percentage: 0.1 }],
      ['12.5%', { percentage: 0.125 }],
      ['0%', undefined],
      ['100%', undefined],
    ];
    for (const [text, want] of table) assert.deepEqual(parseThresholdValue(text), want, text);
    for (const bad of ['abc', '120%', '-5%', '-1Mi', '0', 'x%']) assert.throws(() => parseThresholdValue(bad), Error, bad);
  });

  it('the defaults are upstream Linux hard thresholds', () => {
    const { config } = loadKubeletConfig([]);
    const { settings, problems } = parseEvictionSettings(config);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      settings.thresholds.map((t) => [t.signal, t.value, t.hard]),
      [
        ['memory.available', { quantity: 100 * 2 ** 20 }, true],
        ['nodefs.available', { percentage: 0.1 }, true],
        ['nodefs.inodesFree', { percentage: 0.05 }, true],
        ['imagefs.available', { percentage: 0.15 }, true],
      ],
    );
    assert.equal(settings.pressureTransitionPeriodMs, 300_000);
  });

  it('soft thresholds take their grace period; minimum reclaim applies to hard and soft', () => {
    const { settings, problems } = parseEvictionSettings({
      ...base,
      evictionHard: { 'memory.available': '200Mi' },
      evictionSoft: { 'memory.available': '500Mi', 'pid.available': '10%' },
      evictionSoftGracePeriod: { 'memory.available': '1m30s', 'pid.available': '10s' },
      evictionMinimumReclaim: { 'memory.available': '100Mi', 'nodefs.available': '0Mi' },
      evictionMaxPodGracePeriod: 20,
    });
    assert.deepEqual(problems, []);
    const byKey = new Map(settings.thresholds.map((t) => [`${t.signal}/${t.hard ? 'hard' : 'soft'}`, t]));
    assert.equal(byKey.get('memory.available/hard')?.gracePeriodMs, 0);
    assert.equal(byKey.get('memory.available/soft')?.gracePeriodMs, 90_000);
    assert.equal(byKey.get('pid.available/soft')?.gracePeriodMs, 10_000);
    assert.deepEqual(byKey.get('memory.available/soft')?.minReclaim, { quantity: 100 * 2 ** 20 });
    assert.deepEqual(byKey.get('memory.available/hard')?.minReclaim, { quantity: 100 * 2 ** 20 });
    assert.equal(byKey.get('pid.available/soft')?.minReclaim, undefined);
    assert.equal(settings.maxPodGracePeriodSeconds, 20);
  });

  it('a threshold met stays met until the signal clears its minimum reclaim', () => {
    const t: Threshold = { signal: 'memory.available', value: { quantity: 100 }, hard: true, gracePeriodMs: 0, minReclaim: { quantity: 50 } };
    const table: [available: number, wasMet: boolean, met: boolean][] = [
      [99, false, true],
      [100, false, false],
      [120, false, false],
      [120, true, true],
      [149, true, true],
      [150, true, false],
    ];
    for (const [available, wasMet, met] of table) assert.equal(thresholdMet(t, available, 1000, wasMet), met, `${available} ${wasMet}`);
    const pct: Threshold = { signal: 'nodefs.available', value: { percentage: 0.1 }, hard: true, gracePeriodMs: 0, minReclaim: { percentage: 0.05 } };
    assert.equal(thresholdMet(pct, 99, 1000, false), true);
    assert.equal(thresholdMet(pct, 101, 1000, false), false);
    assert.equal(thresholdMet(pct, 149, 1000, true), true);
    assert.equal(thresholdMet(pct, 151, 1000, true), false);
  });

  it('refuses bad settings at start, each by its setting name', () => {
    const table: [argv: string[], problem: RegExp][] = [
      [['--eviction-hard=memory.free<1Gi'], /evictionHard: unknown eviction signal "memory\.free"/],
      [['--eviction-hard=memory.available<abc'], /evictionHard: memory\.available: "abc" is neither a quantity/],
      [['--eviction-hard=nodefs.available<120%'], /evictionHard: nodefs\.available: "120%" must be <= 100%/],
      [['--eviction-soft=memory.available<1Gi'], /evictionSoft: memory\.available needs a grace period in evictionSoftGracePeriod/],
      [['--eviction-soft=memory.available<1Gi', '--eviction-soft-grace-period=memory.available=soon'], /evictionSoftGracePeriod: memory\.available:/],
      [['--eviction-minimum-reclaim=imagefs.available=lots'], /evictionMinimumReclaim: imagefs\.available:/],
      [['--eviction-max-pod-grace-period=-3'], /eviction-max-pod-grace-period/],
      [
        ['--image-gc-high-threshold=80', '--image-gc-low-threshold=80'],
        /imageGCLowThresholdPercent \(80\) must be less than imageGCHighThresholdPercent \(80\)/,
      ],
    ];
    for (const [argv, problem] of table) {
      const problems = problemsOf(argv);
      assert.ok(
        problems.some((p) => problem.test(p)),
        `${argv.join(' ')}: ${problems.join(' | ')}`,
      );
    }
  });

  it('takes the settings from the KubeletConfiguration file', () => {
    const file = [
      'apiVersion: kubelet.config.k8s.io/v1beta1',
      'kind: KubeletConfiguration',
      'evictionHard: {memory.available: 300Mi, pid.available: 5%}',
      'evictionSoft: {nodefs.available: 15%}',
      'evictionSoftGracePeriod: {nodefs.available: 2m}',
      'evictionMinimumReclaim: {nodefs.available: 1Gi}',
      'evictionMaxPodGracePeriod: 45',
      'evictionPressureTransitionPeriod: 30s',
    ].join('\n');
    const { config, warnings } = loadKubeletConfig(['--config', '/x.yaml'], () => file);
    assert.ok(!warnings.some((w) => /eviction/i.test(w)), warnings.join('|'));
    const { settings } = parseEvictionSettings(config);
    assert.deepEqual(
      settings.thresholds.map((t) => `${t.signal}:${t.hard}:${t.gracePeriodMs}`),
      ['memory.available:true:0', 'pid.available:true:0', 'nodefs.available:false:120000'],
    );
    assert.deepEqual(settings.thresholds[2]?.minReclaim, { quantity: 2 ** 30 });
    assert.equal(settings.maxPodGracePeriodSeconds, 45);
    assert.equal(settings.pressureTransitionPeriodMs, 30_000);
  });

  it('warns about a signal kubelet-ts does not observe instead of ignoring it silently', () => {
    const { warnings, problems } = parseEvictionSettings({ ...base, evictionHard: { 'allocatableMemory.available': '100Mi' } });
    assert.deepEqual(problems, []);
    assert.match(warnings.join('\n'), /allocatableMemory\.available is not observed/);
  });
});
