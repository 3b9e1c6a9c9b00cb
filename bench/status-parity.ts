// Pod status side by side (issue 17): one set of pods on one node of a real API server, the node
// either kubelet-ts or the Go kubelet v1.20.2 on the same containerd; after the pods settle their
// statuses are read back, normalised (IDs, times and addresses replaced by what they are) and
// written as JSON. Run it once per kubelet and diff the two files:
//
//   node dist/bench/status-parity.js --kubelet go --out /tmp/status-go.json
//   node dist/bench/status-parity.js --kubelet ts --out /tmp/status-ts.json
//   diff <(jq -S . /tmp/status-go.json) <(jq -S . /tmp/status-ts.json)
//
// The Go kubelet comes from `KTS_K8S_EXTRA=kubelet bash scripts/ensure-k8s.sh`.
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseFlags } from '../src/config/flags.js';
import { startTestCluster } from '../test/helpers/cluster.js';
import { kubectlJson, startClusterNode } from '../test/helpers/cluster-node.js';
import { startTestContainerd } from '../test/helpers/containerd-fixture.js';
import { startGoKubeletNode } from './lib/go-kubelet.js';

const NS = 'parity';
const IMAGE = 'docker.io/library/busybox:1.35';

function sh(name: string, script: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, image: IMAGE, command: ['sh', '-c', script], ...extra };
}

/** The pods: what a status can say, one case each. */
const PODS: Record<string, Record<string, unknown>> = {
  running: { containers: [sh('main', 'sleep 3600')] },
  'init-always': { initContainers: [sh('init', 'true')], containers: [sh('app', 'sleep 3600')] },
  'init-never-ok': { restartPolicy: 'Never', initContainers: [sh('init', 'true')], containers: [sh('app', 'true')] },
  'init-fail-never': { restartPolicy: 'Never', initContainers: [sh('fail', 'exit 3'), sh('after', 'true')], containers: [sh('app', 'sleep 3600')] },
  'init-fail-always': { restartPolicy: 'Always', initContainers: [sh('fail', 'exit 3')], containers: [sh('app', 'sleep 3600')] },
  'init-running': { initContainers: [sh('slow', 'sleep 3600')], containers: [sh('app', 'sleep 3600')] },
  'job-ok': { restartPolicy: 'Never', containers: [sh('a', 'echo -n DONE'), sh('b', 'true')] },
  'job-fail': {
    restartPolicy: 'Never',
    containers: [sh('a', 'true'), sh('b', 'echo oops >&2; exit 2', { terminationMessagePolicy: 'FallbackToLogsOnError' })],
  },
  'onfailure-ok': { restartPolicy: 'OnFailure', containers: [sh('a', 'true')] },
  'message-file': { restartPolicy: 'Never', containers: [sh('main', 'echo -n bye > /dev/termination-log; exit 4')] },
  'non-root-message': {
    restartPolicy: 'Never',
    containers: [
      sh('main', 'echo -n DONE > /dev/termination-custom-log', { terminationMessagePath: '/dev/termination-custom-log', securityContext: { runAsUser: 1000 } }),
    ],
  },
  unready: { containers: [sh('main', 'sleep 3600', { readinessProbe: { exec: { command: ['false'] }, periodSeconds: 2 } })] },
  'not-started': { containers: [sh('main', 'sleep 3600', { startupProbe: { exec: { command: ['false'] }, periodSeconds: 2, failureThreshold: 1000 } })] },
  'crash-once-never': { restartPolicy: 'Never', containers: [sh('main', 'exit 1')] },
  'bad-image': { containers: [{ name: 'main', image: 'registry.invalid/none/such:1' }] },
  'never-pull': { containers: [{ name: 'main', image: 'docker.io/library/absent:1', imagePullPolicy: 'Never' }] },
  'config-error': { containers: [sh('main', 'sleep 3600', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'missing', key: 'k' } } }] })] },
  deadline: { restartPolicy: 'Never', activeDeadlineSeconds: 5, containers: [sh('main', 'sleep 3600')] },
  gates: { readinessGates: [{ conditionType: 'example.com/lb' }], containers: [sh('main', 'sleep 3600')] },
};

const PLACEHOLDERS: [RegExp, string][] = [
  [/^(containerd|docker):\/\/[0-9a-f]+$/, '<containerID>'],
  [/^sha256:[0-9a-f]+$/, '<imageID>'],
  [/^docker\.io\/library\/busybox@sha256:[0-9a-f]+$/, '<imageID>'],
  [/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, '<time>'],
  [/^\d+\.\d+\.\d+\.\d+$/, '<ip>'],
];

/** IDs, times and addresses become what they are; the shape and every other value stay. */
function normalise(v: unknown): unknown {
  if (typeof v === 'string') {
    for (const [re, name] of PLACEHOLDERS) if (re.test(v)) return name;
    return v.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uid>').replace(/[0-9a-f]{64}/g, '<id>');
  }
  if (Array.isArray(v)) return v.map(normalise);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, normalise(x)]));
  return v;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), ['kubelet', 'out', 'settle']);
  const peer = flags.get('kubelet') === 'go' ? 'go' : 'ts';
  const out = flags.get('out') ?? `/tmp/status-${peer}.json`;
  const settleS = Number(flags.get('settle') ?? 60);
  const cluster = await startTestCluster();
  let stopNode: (() => Promise<void>) | undefined;
  let closeContainerd: (() => Promise<void>) | undefined;
  try {
    await cluster.kubectl(['create', 'namespace', NS]);
    await cluster.kubectl(['create', 'serviceaccount', 'default', '-n', NS]);
    if (peer === 'go') {
      const c = await startTestContainerd({ netnsPath: cluster.netnsPath });
      closeContainerd = () => c.close();
      const n = await startGoKubeletNode(cluster, { runtimeEndpoint: c.containerd.endpoint, qps: 50, burst: 100, maxPods: 110, extraArgs: [] });
      stopNode = () => n.stop();
    } else {
      const n = await startClusterNode(cluster, { logLevel: 'info' });
      stopNode = () => n.stop();
    }
    for (const [name, spec] of Object.entries(PODS)) {
      const obj = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: NS },
        spec: { nodeName: 'n1', automountServiceAccountToken: false, terminationGracePeriodSeconds: 1, ...spec },
      };
      const r = await cluster.kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(obj) });
      if (r.code !== 0) throw new Error(`${name}: ${r.stderr}`);
    }
    console.log(`${Object.keys(PODS).length} pods applied on the ${peer === 'go' ? 'Go kubelet' : 'kubelet-ts'}; settling ${settleS} s`);
    await sleep(settleS * 1000);
    const list = await kubectlJson<{ items: { metadata: { name: string }; status: unknown }[] }>(cluster, ['get', 'pods', '-n', NS]);
    const statuses = Object.fromEntries(list.items.map((p) => [p.metadata.name, normalise(p.status)]));
    writeFileSync(out, `${JSON.stringify(statuses, null, 2)}\n`);
    console.log(`wrote ${out}`);
  } finally {
    await stopNode?.();
    await closeContainerd?.();
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
