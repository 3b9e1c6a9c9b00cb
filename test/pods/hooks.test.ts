// Lifecycle hooks and KillPod at the CRI boundary: a recording fake CRI (the boundary is the
// subject here) answers ExecSync, StopContainer and friends, so the order of calls, the grace
// each StopContainer gets after a preStop, and upstream's event texts are checked exactly.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../src/api/core-v1.js';
import type { CriClient } from '../../src/native/cri/client.js';
import { runHook, resolveHookPort } from '../../src/pods/hooks.js';
import { killPod } from '../../src/pods/sync.js';

interface FakeContainer {
  id: string;
  name: string;
  state: string;
  annotations?: Record<string, string>;
}

function fakeCri(
  containers: FakeContainer[],
  exec: (id: string, cmd: string[]) => Promise<{ exitCode: number; stdout?: string; stderr?: string }>,
): { cri: CriClient; calls: string[] } {
  const calls: string[] = [];
  const cri = {
    runtimeRequestTimeoutMs: 120_000,
    ListContainers: () =>
      Promise.resolve({
        containers: containers.map((c) => ({
          id: c.id,
          podSandboxId: 's1',
          state: c.state,
          labels: { 'io.kubernetes.container.name': c.name, 'io.kubernetes.pod.name': 'p', 'io.kubernetes.pod.namespace': 'ns', 'io.kubernetes.pod.uid': 'u1' },
          annotations: c.annotations ?? {},
          metadata: { name: c.name },
        })),
      }),
    ListPodSandbox: () => Promise.resolve({ items: [{ id: 's1', state: 'SANDBOX_READY' }] }),
    PodSandboxStatus: () => Promise.resolve({ status: { network: { ip: '10.88.0.9' } } }),
    ExecSync: async (req: { containerId: string; cmd: string[] }) => {
      calls.push(`exec ${req.containerId} ${req.cmd.join(' ')}`);
      const r = await exec(req.containerId, req.cmd);
      calls.push(`exec-done ${req.containerId}`);
      return { exitCode: r.exitCode, stdout: Buffer.from(r.stdout ?? ''), stderr: Buffer.from(r.stderr ?? '') };
    },
    StopContainer: (req: { containerId: string; timeout: number }) => {
      calls.push(`stop ${req.containerId} ${req.timeout}`);
      return Promise.resolve({});
    },
    StopPodSandbox: (req: { podSandboxId: string }) => {
      calls.push(`stop-sandbox ${req.podSandboxId}`);
      return Promise.resolve({});
    },
  };
  return { cri: cri as unknown as CriClient, calls };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function pod(spec: Partial<Pod['spec']>): Pod {
  return { metadata: { name: 'p', namespace: 'ns', uid: 'u1' }, spec: { containers: [], ...spec } };
}

describe('runHook', () => {
  const p = pod({ containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] });
  const target = (cri: CriClient) => ({ cri, pod: p, container: p.spec.containers[0]!, containerId: 'c1', podIP: () => Promise.resolve('10.88.0.9') });

  it("exec: exit 0 is success, anything else upstream's message with the output", async () => {
    const ok = fakeCri([], () => Promise.resolve({ exitCode: 0 }));
    assert.equal(await runHook({ exec: { command: ['true'] } }, target(ok.cri)), undefined);
    const bad = fakeCri([], () => Promise.resolve({ exitCode: 2, stdout: 'out\n', stderr: 'err "x"' }));
    assert.equal(
      await runHook({ exec: { command: ['sh', '-c', 'exit 2'] } }, target(bad.cri)),
      'Exec lifecycle hook ([sh -c exit 2]) for Container "c" in Pod "p_ns(u1)" failed - error: command \'sh -c exit 2\' exited with 2: err "x", message: "out\\nerr \\"x\\""',
    );
  });

  it('exec: a runtime error is a failed hook, not an exception', async () => {
    const broken = fakeCri([], () => Promise.reject(new Error('container not running')));
    assert.equal(
      await runHook({ exec: { command: ['x'] } }, target(broken.cri)),
      'Exec lifecycle hook ([x]) for Container "c" in Pod "p_ns(u1)" failed - error: container not running, message: ""',
    );
  });

  it('httpGet: a port name resolves through the container ports; an unknown one fails the hook', async () => {
    assert.equal(resolveHookPort({ port: 'http' }, p.spec.containers[0]!), 8080);
    assert.equal(resolveHookPort({ port: '9090' }, p.spec.containers[0]!), 9090);
    assert.equal(resolveHookPort({ port: 7 }, p.spec.containers[0]!), 7);
    const f = fakeCri([], () => Promise.resolve({ exitCode: 0 }));
    assert.equal(
      await runHook({ httpGet: { port: 'nope', path: '/x' } }, target(f.cri)),
      'HTTP lifecycle hook (/x) for Container "c" in Pod "p_ns(u1)" failed - error: couldn\'t find port: nope in c, message: ""',
    );
  });

  it('tcpSocket is accepted and does nothing (upstream); an empty handler is an error', async () => {
    const f = fakeCri([], () => Promise.resolve({ exitCode: 0 }));
    assert.equal(await runHook({ tcpSocket: { port: 1 } }, target(f.cri)), undefined);
    assert.equal(await runHook({}, target(f.cri)), 'Cannot run handler: invalid handler: {}');
    assert.deepEqual(f.calls, []);
  });
});

describe('killPod with hooks and sidecars', () => {
  it('runs each preStop before its StopContainer; what the hook took comes off the grace', async () => {
    const p = pod({ containers: [{ name: 'a', lifecycle: { preStop: { exec: { command: ['slow'] } } } }, { name: 'b' }] });
    const { cri, calls } = fakeCri(
      [
        { id: 'a1', name: 'a', state: 'CONTAINER_RUNNING' },
        { id: 'b1', name: 'b', state: 'CONTAINER_RUNNING' },
      ],
      async () => {
        await sleep(1100);
        return { exitCode: 0 };
      },
    );
    const r = await killPod(cri, 'u1', 10, { pod: p });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.events, []);
    assert.ok(calls.indexOf('exec-done a1') < calls.indexOf('stop a1 9'), calls.join(' | '));
    assert.ok(calls.includes('stop b1 10'), 'a container without a hook gets the whole grace');
    assert.equal(calls.at(-1), 'stop-sandbox s1');
  });

  it('a hook longer than the grace is cut at the grace; StopContainer still gets 2 s', async () => {
    const p = pod({ containers: [{ name: 'a', lifecycle: { preStop: { exec: { command: ['sleep', '30'] } } } }] });
    const { cri, calls } = fakeCri([{ id: 'a1', name: 'a', state: 'CONTAINER_RUNNING' }], () => sleep(30_000).then(() => ({ exitCode: 0 })));
    const t0 = Date.now();
    await killPod(cri, 'u1', 1, { pod: p });
    assert.ok(Date.now() - t0 < 5000);
    assert.ok(calls.includes('stop a1 2'), calls.join(' | '));
  });

  it('a failed preStop is a FailedPreStopHook event and the kill goes on', async () => {
    const p = pod({ containers: [{ name: 'a', lifecycle: { preStop: { exec: { command: ['false'] } } } }] });
    const { cri, calls } = fakeCri([{ id: 'a1', name: 'a', state: 'CONTAINER_RUNNING' }], () => Promise.resolve({ exitCode: 1 }));
    const r = await killPod(cri, 'u1', 5, { pod: p });
    assert.deepEqual(r.events, [
      {
        type: 'Warning',
        reason: 'FailedPreStopHook',
        message: 'Exec lifecycle hook ([false]) for Container "a" in Pod "p_ns(u1)" failed - error: command \'false\' exited with 1: , message: ""',
        container: 'a',
      },
    ]);
    assert.ok(calls.includes('stop a1 5'));
  });

  it('no preStop for a container that is not running, nor with grace 0', async () => {
    const p = pod({ containers: [{ name: 'a', lifecycle: { preStop: { exec: { command: ['x'] } } } }] });
    const created = fakeCri([{ id: 'a1', name: 'a', state: 'CONTAINER_CREATED' }], () => Promise.resolve({ exitCode: 0 }));
    await killPod(created.cri, 'u1', 5, { pod: p });
    assert.deepEqual(
      created.calls.filter((c) => c.startsWith('exec')),
      [],
    );
    const now = fakeCri([{ id: 'a1', name: 'a', state: 'CONTAINER_RUNNING' }], () => Promise.resolve({ exitCode: 0 }));
    await killPod(now.cri, 'u1', 0, { pod: p });
    assert.deepEqual(now.calls, ['stop a1 0', 'stop-sandbox s1']);
  });

  it('without the pod (after a restart) the preStop comes from the container annotation', async () => {
    const handler = { exec: { command: ['echo', 'bye'] } };
    const { cri, calls } = fakeCri(
      [
        { id: 'a1', name: 'a', state: 'CONTAINER_RUNNING', annotations: { 'io.kubernetes.container.preStopHandler': JSON.stringify(handler) } },
        { id: 'b1', name: 'b', state: 'CONTAINER_RUNNING', annotations: { 'io.kubernetes.container.preStopHandler': '{broken' } },
      ],
      () => Promise.resolve({ exitCode: 0 }),
    );
    const r = await killPod(cri, 'u1', 5);
    assert.deepEqual(r.errors, []);
    assert.ok(calls.indexOf('exec a1 echo bye') < calls.indexOf('stop a1 5'));
    assert.ok(!calls.some((c) => c.startsWith('exec b1')), 'an unreadable annotation is no hook');
  });

  it('stops app containers first, then sidecars one by one in reverse order', async () => {
    const p = pod({
      initContainers: [{ name: 's1', restartPolicy: 'Always' }, { name: 'init' }, { name: 's2', restartPolicy: 'Always' }],
      containers: [{ name: 'a' }, { name: 'b' }],
    });
    const { cri, calls } = fakeCri(
      ['s1', 's2', 'a', 'b'].map((n) => ({ id: `${n}-id`, name: n, state: 'CONTAINER_RUNNING' })),
      () => Promise.resolve({ exitCode: 0 }),
    );
    await killPod(cri, 'u1', 30, { pod: p });
    const stops = calls.filter((c) => c.startsWith('stop ')).map((c) => c.split(' ')[1]);
    assert.deepEqual(stops.slice(0, 2).sort(), ['a-id', 'b-id']);
    assert.deepEqual(stops.slice(2), ['s2-id', 's1-id']);
  });
});
