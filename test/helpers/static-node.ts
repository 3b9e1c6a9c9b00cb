// A kubelet-ts node for pod-spec tests: the real kubelet (in this process) with a static
// manifest folder, on a private containerd (or the simulated runtime behind its socket), plus
// what such tests keep needing: write and remove a pod, wait for its status, run a command in
// one of its containers (CRI ExecSync), and the pod events the kubelet published on its bus.
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Pod, PodStatus } from '../../src/api/core-v1.js';
import type { MessageOf } from '../../src/bus/index.js';
import { loadKubeletConfig } from '../../src/config/kubelet-config.js';
import { startKubelet, type Kubelet } from '../../src/kubelet.js';
import { silentLogger } from '../../src/log.js';
import { connectCri, type CriClient } from '../../src/native/cri/index.js';
import { LABEL_CONTAINER_NAME, LABEL_POD_UID } from '../../src/pods/runtime-state.js';
import { startSimRuntimeServer } from '../../src/sim/index.js';
import { cgroupV1Mounts, removeTree } from '../../src/native/cgroups.js';
import { startTestContainerd } from './containerd-fixture.js';
import { waitFor } from './cri-fixtures.js';
import { freePort } from './net.js';

export type PodEventMessage = MessageOf<'pod.event'>;

export interface StaticNode {
  kubelet: Kubelet;
  cri: CriClient;
  /** The image every test pod can use (busybox with its applets). */
  image: string;
  nodeName: string;
  dir: string;
  /** Pod events seen on the kubelet's bus, oldest first. */
  events: PodEventMessage[];
  /** Writes a manifest (name: `<name>.json`); `spec.containers[].image` defaults to `image`. */
  writePod(name: string, spec: Record<string, unknown>, metadata?: Record<string, unknown>): void;
  removePod(name: string): void;
  /** The static pod's status as the kubelet computed it (its name gets `-<node>`). */
  status(name: string): PodStatus | undefined;
  pod(name: string): Pod | undefined;
  waitStatus(name: string, what: string, ok: (s: PodStatus) => boolean, timeoutMs?: number): Promise<PodStatus>;
  /** The CRI ID of the newest container of that name in the pod. */
  containerId(name: string, container: string): Promise<string>;
  /** Runs `cmd` in the pod's container; throws when the exit code is not 0 (unless allowFail). */
  exec(
    name: string,
    container: string,
    cmd: string[],
    opts?: { allowFail?: boolean; timeoutSeconds?: number },
  ): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  eventsOf(name: string, reason?: string): PodEventMessage[];
  close(): Promise<void>;
}

export interface StaticNodeOptions {
  runtime: 'containerd' | 'sim';
  /** More kubelet flags (upstream names). */
  args?: string[];
  nodeName?: string;
  /** KTS_TEST_LOG=FILE also works: the kubelet's log goes there. */
  logFile?: string;
}

function uidOf(k: Kubelet, fullName: string): string | undefined {
  return k.workers.all().find((w) => w.pod.metadata.name === fullName)?.pod.metadata.uid;
}

export async function startStaticNode(opts: StaticNodeOptions): Promise<StaticNode> {
  const nodeName = opts.nodeName ?? 'node-p';
  const dir = mkdtempSync(join(tmpdir(), 'kts-static-node-'));
  const manifests = join(dir, 'manifests');
  mkdirSync(manifests);
  let endpoint: string;
  let image: string;
  let closeRuntime: () => Promise<void>;
  if (opts.runtime === 'containerd') {
    const fx = await startTestContainerd();
    endpoint = fx.containerd.endpoint;
    image = fx.busybox;
    closeRuntime = () => fx.close();
  } else {
    const server = await startSimRuntimeServer({ listen: `unix://${join(dir, 'sim.sock')}`, runtime: { seed: 5 } });
    endpoint = server.endpoint;
    image = 'busybox:1.35';
    closeRuntime = () => server.close();
  }
  const logFile = opts.logFile ?? process.env['KTS_TEST_LOG'];
  const log = logFile ? pino({ level: 'debug' }, pino.destination({ dest: logFile, sync: true })) : silentLogger;
  const cgroupRoot = `/${dir.split('/').pop() ?? 'kts-static-node'}`;
  const argv = [
    '--pod-manifest-path',
    manifests,
    '--container-runtime-endpoint',
    endpoint,
    '--hostname-override',
    nodeName,
    '--root-dir',
    join(dir, 'root'),
    '--cert-dir',
    join(dir, 'pki'),
    '--port',
    String(await freePort()),
    '--healthz-port',
    '0',
    '--address',
    '127.0.0.1',
    '--authorization-mode',
    'AlwaysAllow',
    '--file-check-frequency',
    '1s',
    '--crash-loop-backoff-initial',
    '1s',
    '--crash-loop-backoff-max',
    '4s',
    // The pod cgroups go under a root of this node's own, removed whole in close().
    '--cgroup-root',
    cgroupRoot,
    ...(opts.args ?? []),
  ];
  let kubelet: Kubelet;
  try {
    kubelet = await startKubelet(loadKubeletConfig(argv).config, log, { serve: false });
  } catch (err) {
    await closeRuntime();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const cri = connectCri(endpoint);
  const events: PodEventMessage[] = [];
  kubelet.bus.subscribe('pod.event', (m) => void events.push(m), { name: 'static-node-test', capacity: 100_000 });
  const full = (name: string): string => `${name}-${nodeName}`;
  const node: StaticNode = {
    kubelet,
    cri,
    image,
    nodeName,
    dir,
    events,
    writePod(name, spec, metadata = {}) {
      const withImage = (cs: unknown): object[] | undefined =>
        Array.isArray(cs) ? cs.map((c: object) => ({ image, imagePullPolicy: 'IfNotPresent', ...c })) : undefined;
      const podSpec: Record<string, unknown> = { terminationGracePeriodSeconds: 2, ...spec, containers: withImage(spec['containers']) };
      if (spec['initContainers']) podSpec['initContainers'] = withImage(spec['initContainers']);
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'default', ...metadata, labels: { 'kts-test': 'static-node', ...((metadata['labels'] as object | undefined) ?? {}) } },
        spec: podSpec,
      };
      writeFileSync(join(manifests, `${name}.json`), JSON.stringify(pod));
    },
    removePod(name) {
      unlinkSync(join(manifests, `${name}.json`));
    },
    status(name) {
      const uid = uidOf(kubelet, full(name));
      return uid ? kubelet.workers.statusOf(uid) : undefined;
    },
    pod(name) {
      const uid = uidOf(kubelet, full(name));
      return uid ? kubelet.workers.podOf(uid) : undefined;
    },
    waitStatus(name, what, ok, timeoutMs = 60_000) {
      let last: PodStatus | undefined;
      return waitFor(
        `${name}: ${what}`,
        () => {
          last = node.status(name);
          return last && ok(last) ? last : undefined;
        },
        timeoutMs,
        100,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last status: ${JSON.stringify(last)}`);
      });
    },
    async containerId(name, container) {
      const uid = uidOf(kubelet, full(name));
      if (!uid) throw new Error(`no pod ${full(name)} on the node`);
      const list = await cri.ListContainers({ filter: { labelSelector: { [LABEL_POD_UID]: uid, [LABEL_CONTAINER_NAME]: container } } });
      const newest = [...list.containers].sort((a, b) => Number(b.createdAt) - Number(a.createdAt))[0];
      if (!newest) throw new Error(`pod ${full(name)} has no container ${container}`);
      return newest.id;
    },
    async exec(name, container, cmd, o = {}) {
      const id = await node.containerId(name, container);
      const r = await cri.ExecSync({ containerId: id, cmd, timeout: o.timeoutSeconds ?? 10 });
      const out = { stdout: Buffer.from(r.stdout).toString('utf8'), stderr: Buffer.from(r.stderr).toString('utf8'), exitCode: r.exitCode };
      if (out.exitCode !== 0 && !o.allowFail) throw new Error(`${cmd.join(' ')} in ${name}/${container} exited ${out.exitCode}: ${out.stderr || out.stdout}`);
      return out;
    },
    eventsOf(name, reason) {
      return events.filter((e) => e.name === full(name) && (reason === undefined || e.reason === reason));
    },
    async close() {
      cri.close();
      await kubelet.stop({ runtime: 'stop' });
      // Leave nothing behind in the runtime.
      const c = connectCri(endpoint);
      try {
        for (const s of (await c.ListPodSandbox({ filter: { labelSelector: { 'kts-test': 'static-node' } } })).items) {
          await c.StopPodSandbox({ podSandboxId: s.id }).catch(() => undefined);
          await c.RemovePodSandbox({ podSandboxId: s.id }).catch(() => undefined);
        }
      } finally {
        c.close();
      }
      await closeRuntime();
      rmSync(dir, { recursive: true, force: true });
      for (const m of cgroupV1Mounts()) removeTree(join(m.mountPoint, cgroupRoot));
    },
  };
  return node;
}
