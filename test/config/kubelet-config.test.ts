// KubeletConfiguration file and upstream flags: defaults as upstream, file then flags precedence,
// every problem reported by name, /configz round trip.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultKubeletConfig, flagsHelp, KubeletConfigError, loadKubeletConfig, toConfigz, SETTINGS } from '../../src/config/kubelet-config.js';

function load(argv: string[], files: Record<string, string> = {}) {
  return loadKubeletConfig(argv, (p) => {
    const text = files[p];
    if (text === undefined) throw new Error(`ENOENT: no such file '${p}'`);
    return text;
  });
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof KubeletConfigError, `expected KubeletConfigError, got ${String(err)}`);
    assert.equal(err.code, 'KTS_CONFIG_INVALID');
    return [...err.problems];
  }
  assert.fail('expected the configuration to be refused');
}

describe('kubelet configuration', () => {
  it('has the upstream defaults', () => {
    const c = defaultKubeletConfig();
    assert.equal(c.maxPods, 110);
    assert.equal(c.syncFrequency, 60_000);
    assert.equal(c.fileCheckFrequency, 20_000);
    assert.equal(c.httpCheckFrequency, 20_000);
    assert.equal(c.nodeStatusUpdateFrequency, 10_000);
    assert.equal(c.nodeStatusReportFrequency, 300_000);
    assert.equal(c.nodeLeaseDurationSeconds, 40);
    assert.equal(c.runtimeRequestTimeout, 120_000);
    assert.equal(c.kubeAPIQPS, 50);
    assert.equal(c.kubeAPIBurst, 100);
    assert.equal(c.port, 10250);
    assert.equal(c.healthzPort, 10248);
    assert.equal(c.healthzBindAddress, '127.0.0.1');
    assert.equal(c.authentication.anonymous.enabled, false);
    assert.equal(c.authorization.mode, 'Webhook');
    assert.equal(c.serializeImagePulls, true);
    assert.equal(c.evictionHard['memory.available'], '100Mi');
    assert.equal(c.rootDir, '/var/lib/kubelet');
    assert.equal(c.kubeletTS.crashLoopBackOffInitial, 10_000);
    assert.equal(c.kubeletTS.crashLoopBackOffMax, 300_000);
  });

  it('reads a KubeletConfiguration file, YAML or JSON, and flags override it', () => {
    const yaml = [
      'apiVersion: kubelet.config.k8s.io/v1beta1',
      'kind: KubeletConfiguration',
      'staticPodPath: /etc/kubernetes/manifests',
      'syncFrequency: 30s',
      'maxPods: 250',
      'authentication:',
      '  x509:',
      '    clientCAFile: /etc/ca.crt',
      '  anonymous:',
      '    enabled: true',
      'evictionHard:',
      '  memory.available: 200Mi',
      'registerWithTaints:',
      '- key: dedicated',
      '  value: bench',
      '  effect: NoSchedule',
      'kubeletTS:',
      '  embeddedRuntime: sim',
    ].join('\n');
    const { config } = load(['--config', '/k.yaml', '--max-pods=500', '--anonymous-auth=false', '--node-labels', 'a=1,b=2'], { '/k.yaml': yaml });
    assert.equal(config.staticPodPath, '/etc/kubernetes/manifests');
    assert.equal(config.syncFrequency, 30_000);
    assert.equal(config.maxPods, 500, 'the flag wins over the file');
    assert.equal(config.authentication.x509.clientCAFile, '/etc/ca.crt');
    assert.equal(config.authentication.anonymous.enabled, false, 'the flag wins over the file');
    assert.deepEqual(config.evictionHard, { 'memory.available': '200Mi' }, 'a map in the file replaces the default map');
    assert.deepEqual(config.registerWithTaints, [{ key: 'dedicated', value: 'bench', effect: 'NoSchedule' }]);
    assert.equal(config.kubeletTS.embeddedRuntime, 'sim');
    assert.deepEqual(config.nodeLabels, { a: '1', b: '2' });

    const json = JSON.stringify({ apiVersion: 'kubelet.config.k8s.io/v1beta1', kind: 'KubeletConfiguration', port: 11250 });
    assert.equal(load(['--config=/k.json'], { '/k.json': json }).config.port, 11250);
  });

  it('parses flag forms: bool without value, durations, lists, eviction signals, taints', () => {
    const { config } = load([
      '--register-node=false',
      '--fail-swap-on',
      '--sync-frequency',
      '1m30s',
      '--cluster-dns',
      '10.0.0.10, 10.0.0.11',
      '--eviction-hard',
      'memory.available<1Gi,nodefs.available<5%',
      '--register-with-taints',
      'a=b:NoExecute,c:NoSchedule',
      '--pod-manifest-path',
      '/etc/m',
    ]);
    assert.equal(config.registerNode, false);
    assert.equal(config.failSwapOn, true);
    assert.equal(config.syncFrequency, 90_000);
    assert.deepEqual(config.clusterDNS, ['10.0.0.10', '10.0.0.11']);
    assert.deepEqual(config.evictionHard, { 'memory.available': '1Gi', 'nodefs.available': '5%' });
    assert.deepEqual(config.registerWithTaints, [
      { key: 'a', value: 'b', effect: 'NoExecute' },
      { key: 'c', effect: 'NoSchedule' },
    ]);
    assert.equal(config.staticPodPath, '/etc/m');
  });

  it('reports every bad setting by name and refuses to start', () => {
    const file = [
      'apiVersion: kubelet.config.k8s.io/v1beta1',
      'kind: KubeletConfiguration',
      'maxPods: many',
      'syncFrequency: 5x',
      'cgroupDriver: upstart',
      'notAField: 1',
      'authentication:',
      '  x509:',
      '    clientCAFiles: /x',
    ].join('\n');
    const problems = problemsOf(() => load(['--config', '/k.yaml', '--port', '70000', '--no-such-flag', '--max-pods=1.5', 'stray'], { '/k.yaml': file }));
    const text = problems.join('\n');
    assert.match(text, /maxPods: expected an integer/);
    assert.match(text, /syncFrequency: invalid duration "5x"/);
    assert.match(text, /cgroupDriver: "upstart" is not one of cgroupfs, systemd/);
    assert.match(text, /unknown field "notAField"/);
    assert.match(text, /unknown field "authentication.x509.clientCAFiles"/);
    assert.match(text, /--port: 70000 is above the maximum 65535/);
    assert.match(text, /unknown flag --no-such-flag/);
    assert.match(text, /--max-pods: expected an integer/);
    assert.match(text, /unexpected argument "stray"/);
    assert.equal(problems.length, 9, text);
  });

  it('refuses a file of the wrong kind, a missing file and a broken document', () => {
    assert.match(
      problemsOf(() => load(['--config', '/k.yaml'], { '/k.yaml': 'apiVersion: v1\nkind: Pod\n' })).join('\n'),
      /kind must be KubeletConfiguration.*\n.*apiVersion must be kubelet.config.k8s.io\/v1beta1/,
    );
    assert.match(problemsOf(() => load(['--config', '/missing.yaml'])).join('\n'), /--config \/missing.yaml: cannot read: ENOENT/);
    assert.match(problemsOf(() => load(['--config', '/k.yaml'], { '/k.yaml': 'a: [1,\n' })).join('\n'), /--config \/k.yaml: /);
    assert.match(problemsOf(() => load(['--config', '/k.yaml'], { '/k.yaml': 'a: 1\n---\nb: 2\n' })).join('\n'), /expected one YAML or JSON document/);
    assert.match(problemsOf(() => load(['--image-gc-low-threshold=90'])).join('\n'), /imageGCLowThresholdPercent \(90\) must be less than/);
  });

  it('warns about accepted upstream fields it does not act on', () => {
    const { warnings } = load(['--config', '/k.yaml'], {
      '/k.yaml': 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfeatureGates:\n  Foo: true\n',
    });
    assert.deepEqual(warnings, ['/k.yaml: field "featureGates" is accepted but kubelet-ts does not act on it']);
  });

  it('renders /configz in upstream form and it loads back to the same configuration', () => {
    const { config } = load(['--max-pods=42', '--sync-frequency=90s']);
    const z = toConfigz(config);
    assert.equal(z['syncFrequency'], '1m30s');
    assert.equal(z['maxPods'], 42);
    assert.equal(z['kind'], 'KubeletConfiguration');
    const again = load(['--config', '/z.json'], { '/z.json': JSON.stringify(z) }).config;
    for (const [path, s] of Object.entries(SETTINGS)) {
      if (s.file === null) continue;
      assert.deepEqual(
        path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], again),
        path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], config),
        path,
      );
    }
  });

  it('documents every flag in --help', () => {
    const help = flagsHelp();
    for (const s of Object.values(SETTINGS)) if (s.flag) assert.ok(help.includes(`--${s.flag} `), s.flag);
  });
});
