// The CRI client against the simulated runtime, in-process and over a real unix socket: typed
// errors for unknown IDs and malformed requests (and the server keeps serving), a dead socket
// failing fast as Unavailable, reconnection after a runtime restart, deadlines, cancellation,
// and the upstream kubelet_runtime_operations_* metrics.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { connectCri, type CriClient } from '../src/native/cri/index.js';
import {
  CriBadEndpointError,
  CriCancelledError,
  CriDeadlineError,
  CriInvalidArgumentError,
  CriRuntimeError,
  CriNotFoundError,
  CriUnavailableError,
  fromPlainError,
  toPlainError,
} from '../src/native/cri/errors.js';
import { SimRuntime, createSimClient, startSimRuntimeServer, type SimRuntimeServer } from '../src/sim/index.js';
import { containerConfig, newPod, sandboxConfig, waitFor } from './helpers/cri-fixtures.js';

const BUSYBOX = 'docker.io/library/busybox:1.35';
const NO_SUCH_ID = 'f'.repeat(64);

interface Target {
  cri: CriClient;
  sim: SimRuntime;
  close(): Promise<void>;
}

const targets: [string, () => Promise<Target>][] = [
  [
    'in-process',
    () => {
      const sim = new SimRuntime({ seed: 1 });
      const cri = createSimClient(sim, { runtimeRequestTimeoutMs: 5_000 });
      return Promise.resolve({
        cri,
        sim,
        close: async () => {
          cri.close();
          await sim.close();
        },
      });
    },
  ],
  [
    'unix socket',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'kts-cri-client-'));
      const server = await startSimRuntimeServer({ listen: `unix://${join(dir, 'sim.sock')}`, runtime: { seed: 1 } });
      const cri = connectCri(server.endpoint, { runtimeRequestTimeoutMs: 5_000 });
      return {
        cri,
        sim: server.runtime,
        close: async () => {
          cri.close();
          await server.close();
          await rm(dir, { recursive: true, force: true });
        },
      };
    },
  ],
];

for (const [label, open] of targets) {
  describe(`CRI client errors (${label})`, () => {
    let t: Target;
    before(async () => {
      t = await open();
    });
    after(async () => {
      await t.close();
    });

    it('gives CriNotFoundError for unknown IDs, naming the operation and the ID', async () => {
      await assert.rejects(t.cri.ContainerStatus({ containerId: NO_SUCH_ID }), (err: unknown) => {
        assert.ok(err instanceof CriNotFoundError, String(err));
        assert.equal(err.code, 'KTS_CRI_NOT_FOUND');
        assert.equal(err.operation, 'container_status');
        assert.equal(err.message, `CRI container_status failed (NOT_FOUND): an error occurred when try to find container "${NO_SUCH_ID}": not found`);
        return true;
      });
      await assert.rejects(t.cri.PodSandboxStatus({ podSandboxId: NO_SUCH_ID }), CriNotFoundError);
    });

    it('gives CriInvalidArgumentError for a field of the wrong type, and keeps serving', async () => {
      const bad = { podSandboxId: 'x', config: 'not an object' } as unknown as Parameters<CriClient['CreateContainer']>[0];
      await assert.rejects(t.cri.CreateContainer(bad), (err: unknown) => {
        assert.ok(err instanceof CriInvalidArgumentError, String(err));
        assert.match(err.message, /serialization failure: .*config: object expected/);
        return true;
      });
      const badList = { containerId: 'x', cmd: 'echo hi' } as unknown as Parameters<CriClient['ExecSync']>[0];
      await assert.rejects(t.cri.ExecSync(badList), CriInvalidArgumentError);
      assert.equal((await t.cri.Version({})).runtimeName, 'kubelet-ts-sim', 'still serving');
    });

    it('gives a typed error for a missing required field (Unknown, as containerd), and keeps serving', async () => {
      await assert.rejects(t.cri.RunPodSandbox({ config: { hostname: 'no-metadata' } }), (err: unknown) => {
        assert.ok(err instanceof CriRuntimeError, String(err));
        assert.match(err.message, /sandbox config must include metadata/);
        return true;
      });
      const pod = newPod('ok');
      const { podSandboxId } = await t.cri.RunPodSandbox({ config: sandboxConfig(pod, '') });
      assert.match(podSandboxId, /^[0-9a-f]{64}$/);
    });

    it('cancels a call through its AbortSignal', async () => {
      t.sim.faults.set('ListPodSandbox', { hang: true });
      try {
        const ac = new AbortController();
        const call = t.cri.ListPodSandbox({}, { signal: ac.signal });
        ac.abort();
        await assert.rejects(call, CriCancelledError);
      } finally {
        t.sim.faults.clear();
      }
    });

    it('gives ExecSync its own timeout on top of the request timeout', async () => {
      // A 300 ms request timeout alone would cut this 1 s exec short; its 5 s timeout is added.
      const cri = label === 'in-process' ? createSimClient(t.sim, { runtimeRequestTimeoutMs: 300 }) : t.cri;
      const pod = newPod('exec');
      const { podSandboxId } = await t.cri.RunPodSandbox({ config: sandboxConfig(pod, '') });
      const { containerId } = await t.cri.CreateContainer({
        podSandboxId,
        config: containerConfig(pod, 'a', BUSYBOX, ['sleep', 'infinity']),
        sandboxConfig: sandboxConfig(pod, ''),
      });
      await t.cri.StartContainer({ containerId });
      t.sim.setExecSync(containerId, 'slow', { stdout: 'done\n', seconds: 1 });
      const res = await cri.ExecSync({ containerId, cmd: ['slow'], timeout: 5 });
      assert.equal(res.stdout.toString(), 'done\n');
    });

    it('ends a call the runtime never answers at its deadline with CriDeadlineError', async () => {
      t.sim.faults.set('ContainerStatus', { hang: true });
      try {
        await assert.rejects(t.cri.ContainerStatus({ containerId: NO_SUCH_ID }, { timeoutMs: 200 }), (err: unknown) => {
          assert.ok(err instanceof CriDeadlineError, String(err));
          assert.equal(err.operation, 'container_status');
          return true;
        });
      } finally {
        t.sim.faults.clear();
      }
      await assert.rejects(t.cri.ContainerStatus({ containerId: NO_SUCH_ID }), CriNotFoundError, 'answers again once the fault is cleared');
    });
  });
}

describe('CRI client and a runtime that is down', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kts-cri-down-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fails with CriUnavailableError, not a deadline, when nothing listens on the socket', async () => {
    // A one-minute deadline: getting Unavailable (rather than a deadline error) shows the call
    // failed on the refused connection, without waiting.
    const cri = connectCri(`unix://${join(dir, 'nobody.sock')}`, { runtimeRequestTimeoutMs: 60_000 });
    try {
      await assert.rejects(cri.Version({}), (err: unknown) => {
        assert.ok(err instanceof CriUnavailableError, String(err));
        assert.equal(err.retryable, true);
        return true;
      });
    } finally {
      cri.close();
    }
  });

  it('fails with CriUnavailableError when the socket path is a stale plain file', async () => {
    const path = join(dir, 'stale.sock');
    await writeFile(path, '');
    const cri = connectCri(`unix://${path}`, { runtimeRequestTimeoutMs: 60_000 });
    try {
      await assert.rejects(cri.Status({}), CriUnavailableError);
    } finally {
      cri.close();
    }
  });

  it('refuses endpoints that are not unix sockets', () => {
    assert.throws(() => connectCri('tcp://127.0.0.1:1234'), CriBadEndpointError);
    assert.throws(() => connectCri('unix://relative.sock'), CriBadEndpointError);
  });

  it('reconnects after the runtime restarts on the same socket', async () => {
    const listen = `unix://${join(dir, 'restart.sock')}`;
    let server: SimRuntimeServer = await startSimRuntimeServer({ listen });
    const cri = connectCri(listen, { runtimeRequestTimeoutMs: 5_000 });
    try {
      await cri.Version({});
      await server.close();
      await assert.rejects(cri.Version({}), CriUnavailableError);
      server = await startSimRuntimeServer({ listen });
      const v = await waitFor('the client to reconnect', () => cri.Version({}), 15_000, 100);
      assert.equal(v.runtimeName, 'kubelet-ts-sim');
    } finally {
      cri.close();
      await server.close();
    }
  });
});

describe('CRI client errors as plain data', () => {
  it('round-trips a CriError through structured clone keeping class, code and operation', () => {
    const err = new CriNotFoundError('gone', { operation: 'container_status', grpcCode: 5 });
    const back = fromPlainError(structuredClone(toPlainError(err)));
    assert.ok(back instanceof CriNotFoundError);
    assert.deepEqual([back.code, back.operation, back.grpcCode, back.message], ['KTS_CRI_NOT_FOUND', 'container_status', 5, 'gone']);
  });
});

describe('CRI client metrics', () => {
  it('counts operations and errors and times them, labelled by operation_type', async () => {
    const registry = new Registry();
    const sim = new SimRuntime();
    const cri = createSimClient(sim, { registry });
    try {
      await cri.Version({});
      await cri.Version({});
      await assert.rejects(cri.ContainerStatus({ containerId: NO_SUCH_ID }), CriNotFoundError);
      const byName = new Map((await registry.getMetricsAsJSON()).map((m) => [m.name, m]));
      const value = (name: string, op: string, metricName = name): number | undefined =>
        (byName.get(name)?.values as { labels: Record<string, string>; value: number; metricName?: string }[] | undefined)?.find(
          (v) => v.labels['operation_type'] === op && (v.metricName ?? name) === metricName,
        )?.value;
      assert.equal(value('kubelet_runtime_operations_total', 'version'), 2);
      assert.equal(value('kubelet_runtime_operations_total', 'container_status'), 1);
      assert.equal(value('kubelet_runtime_operations_errors_total', 'container_status'), 1);
      assert.equal(value('kubelet_runtime_operations_errors_total', 'version'), undefined, 'no errors for version');
      assert.equal(value('kubelet_runtime_operations_duration_seconds', 'version', 'kubelet_runtime_operations_duration_seconds_count'), 2);
      const text = await registry.metrics();
      assert.match(text, /kubelet_runtime_operations_duration_seconds_bucket\{le="0\.005",operation_type="version"\} \d/);
    } finally {
      cri.close();
      await sim.close();
    }
  });
});
