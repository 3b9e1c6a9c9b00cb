// Pod status as upstream reports it (issue 17), on containerd through a real API server: what
// kubectl and controllers read. Init containers that exited 0 are ready; a Never pod whose init
// container fails is Failed with Initialized False (ContainersNotInitialized, the incomplete
// ones named) and its app containers waiting PodInitializing; a Succeeded pod has the PodCompleted
// conditions; output without a final newline is in `kubectl logs` (tail, limit-bytes) and in the
// FallbackToLogsOnError message; a non-root container writes its termination message file; and
// the restart count moves together with the container state it counts (watched through a
// crash loop whose postStart hook takes 2 s).
//
// KTS_STATUS_PEER=go runs the same file against the Go kubelet v1.20.2 on the same containerd and
// API server (built by `KTS_K8S_EXTRA=kubelet bash scripts/ensure-k8s.sh`): the expectations are
// upstream's own output, checked side by side. Not part of the test command (the Go kubelet is a
// benchmark peer, not a dependency); its crash loop starts at upstream's fixed 10 s back-off.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { eventually, kubectlJson, startClusterNode } from '../helpers/cluster-node.js';
import { startTestContainerd, type ContainerdFixture } from '../helpers/containerd-fixture.js';

const PEER = process.env['KTS_STATUS_PEER'] === 'go' ? 'go' : 'kubelet-ts';

const NS = 'status';
const IMAGE = 'docker.io/library/busybox:1.35';

interface Terminated {
  exitCode: number;
  reason?: string;
  message?: string;
  containerID?: string;
  startedAt?: string;
  finishedAt?: string;
}
interface CStatus {
  name: string;
  ready: boolean;
  started?: boolean;
  restartCount: number;
  containerID?: string;
  state: { waiting?: { reason?: string; message?: string }; running?: { startedAt?: string }; terminated?: Terminated };
  lastState: { terminated?: Terminated };
}
interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface PodJson {
  status?: { phase?: string; conditions?: Condition[]; containerStatuses?: CStatus[]; initContainerStatuses?: CStatus[] };
}

function pod(name: string, spec: Record<string, unknown>): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: { nodeName: 'n1', automountServiceAccountToken: false, terminationGracePeriodSeconds: 1, ...spec },
  };
}

function sh(name: string, script: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, image: IMAGE, command: ['sh', '-c', script], ...extra };
}

function cond(p: PodJson, type: string): Condition | undefined {
  const c = p.status?.conditions?.find((x) => x.type === type);
  if (!c) return undefined;
  return { type: c.type, status: c.status, ...(c.reason ? { reason: c.reason } : {}), ...(c.message ? { message: c.message } : {}) };
}

describe('pod status through the API server, as upstream reports it', () => {
  let cluster: TestCluster;
  let node: { stop(): Promise<void> } | undefined;
  let containerd: ContainerdFixture | undefined;

  async function apply(obj: unknown): Promise<void> {
    const r = await cluster.kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(obj) });
    assert.equal(r.code, 0, r.stderr);
  }

  async function podIn(name: string, phases: string[], timeoutMs = 90_000): Promise<PodJson> {
    let last: PodJson | undefined;
    try {
      return await eventually(
        `pod ${name} in ${phases.join('/')}`,
        async () => {
          last = await kubectlJson<PodJson>(cluster, ['get', 'pod', '-n', NS, name]);
          return phases.includes(last.status?.phase ?? '') ? last : undefined;
        },
        timeoutMs,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last?.status)}`, { cause: err });
    }
  }

  before(async () => {
    cluster = await startTestCluster();
    assert.equal((await cluster.kubectl(['create', 'namespace', NS])).code, 0);
    await cluster.kubectl(['create', 'serviceaccount', 'default', '-n', NS]);
    if (PEER === 'go') {
      containerd = await startTestContainerd({ netnsPath: cluster.netnsPath });
      const { startGoKubeletNode } = await import('../../bench/lib/go-kubelet.js');
      node = await startGoKubeletNode(cluster, { runtimeEndpoint: containerd.containerd.endpoint, qps: 50, burst: 100, maxPods: 110, extraArgs: [] });
    } else {
      node = await startClusterNode(cluster, { extraArgs: ['--crash-loop-backoff-initial', '1s', '--crash-loop-backoff-max', '2s'] });
    }
  });

  after(async () => {
    try {
      await node?.stop();
      await containerd?.close();
    } finally {
      await cluster?.stop();
    }
  });

  it('init containers that exited 0 are ready, on Always and Never pods; a Succeeded pod has the PodCompleted conditions', async () => {
    await apply(pod('init-always', { restartPolicy: 'Always', initContainers: [sh('init', 'true')], containers: [sh('app', 'sleep 3600')] }));
    await apply(pod('init-never', { restartPolicy: 'Never', initContainers: [sh('init', 'true')], containers: [sh('app', 'true')] }));
    const always = await eventually(
      'init-always Running and ready',
      async () => {
        const p = await kubectlJson<PodJson>(cluster, ['get', 'pod', '-n', NS, 'init-always']);
        return cond(p, 'Ready')?.status === 'True' ? p : undefined;
      },
      90_000,
    );
    const never = await podIn('init-never', ['Succeeded', 'Failed']);
    for (const p of [always, never]) {
      const init = p.status?.initContainerStatuses?.[0];
      assert.equal(init?.state.terminated?.exitCode, 0);
      assert.equal(init?.state.terminated?.reason, 'Completed');
      assert.equal(init?.ready, true, 'an init container that exited 0 is ready');
      assert.equal(init && 'started' in init, false, 'upstream v1.20 has no started on init container statuses');
    }
    assert.deepEqual(cond(always, 'Initialized'), { type: 'Initialized', status: 'True' });
    assert.equal(never.status?.phase, 'Succeeded');
    assert.deepEqual(cond(never, 'Initialized'), { type: 'Initialized', status: 'True', reason: 'PodCompleted' });
    assert.deepEqual(cond(never, 'Ready'), { type: 'Ready', status: 'False', reason: 'PodCompleted' });
    assert.deepEqual(cond(never, 'ContainersReady'), { type: 'ContainersReady', status: 'False', reason: 'PodCompleted' });
    assert.deepEqual(cond(never, 'PodScheduled'), { type: 'PodScheduled', status: 'True' });
  });

  it('a Never pod whose init container fails: Failed, Initialized False naming the incomplete ones, apps waiting PodInitializing', async () => {
    await apply(
      pod('init-fail', { restartPolicy: 'Never', initContainers: [sh('fail', 'exit 3'), sh('after', 'true')], containers: [sh('app', 'sleep 3600')] }),
    );
    const p = await podIn('init-fail', ['Failed', 'Succeeded']);
    assert.equal(p.status?.phase, 'Failed');
    assert.deepEqual(cond(p, 'Initialized'), {
      type: 'Initialized',
      status: 'False',
      reason: 'ContainersNotInitialized',
      message: 'containers with incomplete status: [fail after]',
    });
    assert.deepEqual(cond(p, 'Ready'), { type: 'Ready', status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [app]' });
    assert.deepEqual(cond(p, 'ContainersReady'), {
      type: 'ContainersReady',
      status: 'False',
      reason: 'ContainersNotReady',
      message: 'containers with unready status: [app]',
    });
    const [fail, afterInit] = p.status?.initContainerStatuses ?? [];
    assert.equal(fail?.state.terminated?.exitCode, 3);
    assert.equal(fail?.ready, false);
    assert.deepEqual(afterInit?.state, { waiting: { reason: 'PodInitializing' } });
    assert.deepEqual(p.status?.containerStatuses?.[0]?.state, { waiting: { reason: 'PodInitializing' } });
  });

  it('output without a final newline: kubectl logs (tail, limit-bytes) and the FallbackToLogsOnError message keep it', async () => {
    await apply(pod('no-newline', { restartPolicy: 'Never', containers: [sh('main', 'echo -n DONE')] }));
    await apply(
      pod('no-newline-fallback', {
        restartPolicy: 'Never',
        containers: [sh('main', 'echo first; echo -n DONE; exit 1', { terminationMessagePolicy: 'FallbackToLogsOnError' })],
      }),
    );
    await podIn('no-newline', ['Succeeded', 'Failed']);
    const logs = async (args: string[]): Promise<string> => {
      const r = await cluster.kubectl(['logs', '-n', NS, 'no-newline', ...args]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    assert.equal(await logs([]), 'DONE');
    assert.equal(await logs(['--tail=1']), 'DONE');
    assert.equal(await logs(['--limit-bytes=2']), 'DO');
    const f = await podIn('no-newline-fallback', ['Failed', 'Succeeded']);
    const t = f.status?.containerStatuses?.[0]?.state.terminated;
    assert.equal(t?.exitCode, 1);
    assert.equal(t?.message, 'first\nDONE');
  });

  it('a container running as user 1000 writes its termination message file', async () => {
    await apply(
      pod('non-root-message', {
        restartPolicy: 'Never',
        containers: [
          sh('main', 'echo -n DONE > /dev/termination-custom-log', {
            terminationMessagePath: '/dev/termination-custom-log',
            securityContext: { runAsUser: 1000 },
          }),
        ],
      }),
    );
    const p = await podIn('non-root-message', ['Succeeded', 'Failed']);
    const t = p.status?.containerStatuses?.[0]?.state.terminated;
    assert.equal(p.status?.phase, 'Succeeded', `terminated: ${JSON.stringify(t)}`);
    assert.equal(t?.message, 'DONE');
  });

  it('the restart count moves together with the state it counts (a crash loop watched through the API)', async () => {
    // Each instance runs 3 s and fails; its postStart hook takes 2 s, during which upstream's
    // pod worker is still in SyncPod and the status still describes the previous instance.
    await apply(
      pod('crash-hook', {
        restartPolicy: 'Always',
        containers: [sh('main', 'sleep 3; exit 1', { lifecycle: { postStart: { exec: { command: ['sleep', '2'] } } } })],
      }),
    );
    const seen: CStatus[] = [];
    const kubectl = spawn(
      '/usr/bin/kubectl',
      ['--kubeconfig', cluster.adminKubeconfig, 'get', 'pod', '-n', NS, 'crash-hook', '--watch', '-o', 'jsonpath={.status.containerStatuses[0]}{"\\n"}'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let buf = '';
    kubectl.stdout.setEncoding('utf8');
    kubectl.stdout.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (line.startsWith('{')) seen.push(JSON.parse(line) as CStatus);
      }
    });
    try {
      // Go kubelet: 10 s, 20 s, 40 s of back-off; kubelet-ts here: 1 s, 2 s, 2 s.
      const restarts = PEER === 'go' ? 3 : 4;
      await eventually(`crash-hook restarted ${restarts} times`, () => Promise.resolve(seen.some((s) => s.restartCount >= restarts)), 180_000, 250);
    } finally {
      kubectl.kill();
    }
    let prev: CStatus | undefined;
    for (const s of seen) {
      const at = JSON.stringify(s);
      const last = s.lastState?.terminated;
      if (s.state.waiting && last)
        assert.equal(s.containerID, last.containerID, `waiting: the count and the container ID are those of the last termination: ${at}`);
      if (s.state.running && last) {
        assert.notEqual(s.containerID, last.containerID, `running: the last state is the instance before: ${at}`);
        assert.ok(Date.parse(s.state.running.startedAt ?? '') >= Date.parse(last.finishedAt ?? ''), `running: started after the last one finished: ${at}`);
      }
      if (prev) {
        assert.ok(s.restartCount >= prev.restartCount, `the count never goes back: ${JSON.stringify(prev)} then ${at}`);
        if (s.restartCount !== prev.restartCount)
          assert.notEqual(s.containerID, prev.containerID, `a new count comes with a new instance: ${JSON.stringify(prev)} then ${at}`);
      }
      prev = s;
    }
    assert.ok(seen.length >= 8, `watched ${seen.length} statuses`);
  });
});
