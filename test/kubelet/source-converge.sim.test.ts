// Pod sources, pod workers and the runtime converge (issue 16, findings 6 and 9), on a standalone
// kubelet in this process with the embedded simulated runtime:
//  - a static manifest rewritten many times quickly (a new UID each time) ends with the workers
//    holding exactly the one pod the source wants and the runtime running exactly its sandbox
//    (before: cancelled syncs crashed pool threads, failed kills and removes were left, and 40+
//    stale pods stayed in /pods);
//  - pods deleted at once are killed at once: more StopContainer calls in flight than there are
//    sync slots (before: every kill held one of the 4 sync slots for its whole grace period);
//  - leftovers of pods gone while the kubelet was down (a log folder, a <root-dir>/pods/<uid>
//    folder) are removed once the sources are ready; a running pod's are kept.
// No timing assertions: every wait is a generous bound on reaching a final state.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKubeletConfig } from '../../src/config/kubelet-config.js';
import { startKubelet, type Kubelet } from '../../src/kubelet.js';
import { silentLogger } from '../../src/log.js';
import { createCriClient, InProcessCriTransport, type CriClient } from '../../src/native/cri/index.js';
import { LABEL_POD_UID } from '../../src/pods/runtime-state.js';
import { waitFor } from '../helpers/cri-fixtures.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MAX_CONCURRENT_SYNCS = 4;

interface Node {
  kubelet: Kubelet;
  cri: CriClient;
  dir: string;
  manifests: string;
  rootDir: string;
  podLogsDir: string;
  close(): Promise<void>;
}

async function startNode(prepare?: (dirs: { rootDir: string; podLogsDir: string }) => void): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), 'kts-converge-'));
  const manifests = join(dir, 'manifests');
  const rootDir = join(dir, 'root');
  const podLogsDir = join(dir, 'pod-logs');
  mkdirSync(manifests);
  mkdirSync(podLogsDir);
  prepare?.({ rootDir, podLogsDir });
  const argv = [
    '--pod-manifest-path',
    manifests,
    '--embedded-runtime',
    'sim',
    '--hostname-override',
    'conv',
    '--root-dir',
    rootDir,
    '--pod-logs-dir',
    podLogsDir,
    '--authorization-mode',
    'AlwaysAllow',
    '--file-check-frequency',
    '1s',
    '--max-pods',
    '500',
    '--max-concurrent-syncs',
    String(MAX_CONCURRENT_SYNCS),
  ];
  const kubelet = await startKubelet(loadKubeletConfig(argv).config, silentLogger, { serve: false });
  if (!kubelet.embeddedSim) throw new Error('no embedded sim');
  const cri = createCriClient(new InProcessCriTransport(kubelet.embeddedSim, 'sim'), { runtimeRequestTimeoutMs: 30_000 });
  return {
    kubelet,
    cri,
    dir,
    manifests,
    rootDir,
    podLogsDir,
    async close() {
      cri.close();
      await kubelet.stop({ runtime: 'stop' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function manifest(name: string, grace: number, salt: string, containers = 1): string {
  const cs = Array.from({ length: containers }, (_, i) => ({ name: `c${i}`, image: 'busybox:1.35', command: ['sleep', '3600'] }));
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', annotations: { salt } },
    spec: { terminationGracePeriodSeconds: grace, containers: cs },
  });
}

async function readySandboxUids(cri: CriClient): Promise<string[]> {
  const { items } = await cri.ListPodSandbox({ filter: { state: { state: 'SANDBOX_READY' } } });
  return items.map((s) => s.labels[LABEL_POD_UID] ?? '');
}

describe('a static manifest rewritten many times quickly', () => {
  let node: Node;
  before(async () => (node = await startNode()));
  after(() => node.close());

  it('ends with the workers holding the one pod the source wants and the runtime running exactly its sandbox', async () => {
    const file = join(node.manifests, 'churn.json');
    for (let i = 0; i < 100; i++) {
      writeFileSync(file, manifest('churn', 2, String(i)));
      await sleep(100);
    }
    let last = '';
    // One sync period (1 min) after the last change, plus slack.
    await waitFor(
      'workers and runtime agree with the source',
      async () => {
        const wanted = node.kubelet.config.all().map((p) => p.metadata.uid ?? '');
        const held = node.kubelet.workers.all().map((w) => w.pod.metadata.uid ?? '');
        const running = await readySandboxUids(node.cri);
        last = JSON.stringify({ wanted, held: held.length, lifecycles: node.kubelet.workers.counts(), running });
        const one = wanted.length === 1 ? wanted[0] : undefined;
        return one !== undefined &&
          held.length === 1 &&
          held[0] === one &&
          running.length === 1 &&
          running[0] === one &&
          node.kubelet.workers.lifecycleOf(one) === 'syncing'
          ? true
          : undefined;
      },
      75_000,
      500,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last: ${last}`);
    });
  });
});

describe('pods deleted at once', () => {
  let node: Node;
  let inFlight = 0;
  let maxInFlight = 0;
  before(async () => {
    node = await startNode();
    const sim = node.kubelet.embeddedSim;
    if (!sim) throw new Error('no embedded sim');
    // Counts StopContainer calls in flight in the runtime (each waits out the grace period: sleep ignores SIGTERM).
    const stop = sim.StopContainer.bind(sim);
    sim.StopContainer = async (req) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        return await stop(req);
      } finally {
        inFlight--;
      }
    };
  });
  after(() => node.close());

  it('are killed at once, not a sync slot at a time, and all leave /pods and the runtime', async () => {
    const pods = 24;
    for (let i = 0; i < pods; i++) writeFileSync(join(node.manifests, `d${i}.json`), manifest(`d${i}`, 2, 'x'));
    await waitFor(
      'all pods Running',
      () => (node.kubelet.workers.all().filter((w) => w.status?.phase === 'Running').length === pods ? true : undefined),
      60_000,
      200,
    );
    for (let i = 0; i < pods; i++) unlinkSync(join(node.manifests, `d${i}.json`));
    await waitFor(
      'all pods gone',
      async () => (node.kubelet.workers.size === 0 && (await readySandboxUids(node.cri)).length === 0 ? true : undefined),
      120_000,
      200,
    );
    assert.ok(maxInFlight > MAX_CONCURRENT_SYNCS, `at most ${maxInFlight} StopContainer calls were in flight at once (sync slots: ${MAX_CONCURRENT_SYNCS})`);
  });
});

describe('leftovers of pods gone while the kubelet was down', () => {
  const ghost = '0badf00d-0000-4000-8000-00000000dead';
  let node: Node;
  before(async () => {
    node = await startNode(({ rootDir, podLogsDir }) => {
      mkdirSync(join(rootDir, 'pods', ghost, 'volumes', 'kubernetes.io~empty-dir', 'scratch'), { recursive: true });
      writeFileSync(join(rootDir, 'pods', ghost, 'etc-hosts'), '127.0.0.1 localhost\n');
      mkdirSync(join(podLogsDir, `default_ghost_${ghost}`, 'app'), { recursive: true });
      writeFileSync(join(podLogsDir, `default_ghost_${ghost}`, 'app', '0.log'), 'x\n');
      // Not a pod log folder name: never touched.
      mkdirSync(join(podLogsDir, 'not-a-pod'));
    });
  });
  after(() => node.close());

  it('are removed once the sources are ready; a running pod keeps its folders', async () => {
    writeFileSync(join(node.manifests, 'live.json'), manifest('live', 2, 'x'));
    const uid = await waitFor('live pod Running', () => node.kubelet.workers.all().find((w) => w.status?.phase === 'Running')?.pod.metadata.uid, 60_000, 200);
    await waitFor(
      'ghost folders removed',
      () => (!existsSync(join(node.rootDir, 'pods', ghost)) && !existsSync(join(node.podLogsDir, `default_ghost_${ghost}`)) ? true : undefined),
      90_000,
      500,
    );
    assert.ok(existsSync(join(node.rootDir, 'pods', uid)), 'the running pod keeps <root-dir>/pods/<uid>');
    assert.ok(
      readdirSync(node.podLogsDir).some((n) => n.endsWith(`_${uid}`)),
      'the running pod keeps its log folder',
    );
    assert.ok(existsSync(join(node.podLogsDir, 'not-a-pod')));
  });

  it('a removed pod loses its log folder when its worker is done with it', async () => {
    const uid = node.kubelet.workers.all()[0]?.pod.metadata.uid ?? '';
    assert.ok(
      readdirSync(node.podLogsDir).some((n) => n.endsWith(`_${uid}`)),
      'the pod had a log folder',
    );
    unlinkSync(join(node.manifests, 'live.json'));
    await waitFor(
      'pod and its log folder gone',
      () => (node.kubelet.workers.size === 0 && !readdirSync(node.podLogsDir).some((n) => n.endsWith(`_${uid}`)) ? true : undefined),
      60_000,
      200,
    );
  });
});
