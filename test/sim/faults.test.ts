// Fault injection and latency, per RPC and switchable at run time: an error rate of 1 gives the
// typed error of the chosen gRPC code; a hang ends at the client's deadline (in-process and over
// the socket); slow adds latency on the clock; seeded rates repeat exactly.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectCri } from '../../src/native/cri/index.js';
import { CriDeadlineError, CriNotFoundError, CriUnavailableError, CriResourceExhaustedError } from '../../src/native/cri/errors.js';
import { SimRuntime, createSimClient, startSimRuntimeServer } from '../../src/sim/index.js';
import { simHarness } from './sim-fixtures.js';

describe('sim fault injection', () => {
  it('fails every call of one RPC with the chosen code, leaves the others alone, and clears', async () => {
    const h = await simHarness();
    try {
      h.sim.faults.set('CreateContainer', { errorRate: 1, code: 'UNAVAILABLE' });
      await assert.rejects(h.container(['true']), (err: unknown) => {
        assert.ok(err instanceof CriUnavailableError, String(err));
        assert.match(err.message, /CRI create_container failed \(UNAVAILABLE\): sim: injected UNAVAILABLE for CreateContainer/);
        return true;
      });
      await h.pod(); // RunPodSandbox unaffected
      h.sim.faults.set('CreateContainer', { errorRate: 1, code: 'RESOURCE_EXHAUSTED', message: 'no room' });
      await assert.rejects(h.container(['true']), (err: unknown) => err instanceof CriResourceExhaustedError && /no room/.test(err.message));
      h.sim.faults.clear();
      await h.container(['true']);
      assert.equal(h.sim.stats().injectedErrors.CreateContainer, 2);
    } finally {
      await h.close();
    }
  });

  it('spends a rule with `times` after that many calls', async () => {
    const h = await simHarness();
    try {
      h.sim.faults.set('Version', { errorRate: 1, code: 'UNAVAILABLE', times: 2 });
      await assert.rejects(h.cri.Version({}), CriUnavailableError);
      assert.equal(h.sim.faults.get('Version')?.times, 1);
      await assert.rejects(h.cri.Version({}), CriUnavailableError);
      await h.cri.Version({});
      assert.equal(h.sim.faults.get('Version'), undefined, 'the spent rule is gone');
    } finally {
      await h.close();
    }
  });

  it("applies a '*' rule to every RPC, with a specific rule winning", async () => {
    const h = await simHarness();
    try {
      h.sim.faults.set('*', { errorRate: 1, code: 'NOT_FOUND' });
      h.sim.faults.set('Version', {});
      await assert.rejects(h.cri.Status({}), CriNotFoundError);
      await h.cri.Version({});
    } finally {
      await h.close();
    }
  });

  it('repeats the same injected faults for the same seed', async () => {
    const pattern = async (seed: number): Promise<string> => {
      const sim = new SimRuntime({ seed, faults: { Version: { errorRate: 0.5 } } });
      const cri = createSimClient(sim);
      let out = '';
      for (let i = 0; i < 40; i++)
        out += await cri.Version({}).then(
          () => '.',
          () => 'x',
        );
      cri.close();
      await sim.close();
      return out;
    };
    const a = await pattern(123);
    assert.equal(await pattern(123), a);
    assert.ok(a.includes('x') && a.includes('.'), `a mix of failures and successes: ${a}`);
    assert.notEqual(await pattern(456), a);
  });

  it('refuses bad rules with a message naming the field', () => {
    const sim = new SimRuntime();
    assert.throws(() => sim.faults.set('CreateContainer', { errorRate: 2 }), /faults\.CreateContainer\.errorRate: must be a number from 0 to 1/);
    assert.throws(() => sim.faults.set('CreateContainer', { code: 'NOPE' as 'UNKNOWN' }), /faults\.CreateContainer\.code: "NOPE" is not a gRPC error code/);
    assert.throws(() => sim.faults.set('MakeCoffee' as 'Version', {}), /unknown RPC "MakeCoffee"/);
    assert.throws(() => sim.latency.set('*', { fixedMs: -1 }), /latency\.\*\.fixedMs/);
    void sim.close();
  });

  it('slows calls by the configured latency and slowMs, on the clock', async () => {
    const h = await simHarness();
    try {
      h.sim.latency.set('Version', { fixedMs: 100 });
      h.sim.faults.set('Version', { slowMs: 400 });
      let done = false;
      const call = h.cri.Version({}).finally(() => {
        done = true;
      });
      await h.advance(499);
      assert.equal(done, false);
      await h.advance(1);
      await call;
      h.sim.latency.clear();
      h.sim.faults.clear();
      await h.cri.Version({}); // no clock move needed any more
    } finally {
      await h.close();
    }
  });

  it('hangs a call until the client deadline, in-process', async () => {
    const sim = new SimRuntime({ faults: { ContainerStatus: { hang: true } } });
    const cri = createSimClient(sim, { runtimeRequestTimeoutMs: 300 });
    try {
      await assert.rejects(
        cri.ContainerStatus({ containerId: 'x' }),
        (err: unknown) => err instanceof CriDeadlineError && err.operation === 'container_status',
      );
      assert.equal(sim.stats().injectedHangs.ContainerStatus, 1);
      await cri.Version({}); // other RPCs still answer
    } finally {
      cri.close();
      await sim.close();
    }
  });

  it('hangs a call until the client deadline over the socket, and the server still shuts down', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kts-sim-hang-'));
    const server = await startSimRuntimeServer({ listen: `unix://${join(dir, 'sim.sock')}` });
    const cri = connectCri(server.endpoint, { runtimeRequestTimeoutMs: 300 });
    try {
      await cri.Version({});
      server.runtime.faults.set('ListContainers', { hang: true });
      await assert.rejects(cri.ListContainers({}), CriDeadlineError);
      await assert.rejects(cri.ListContainers({}, { timeoutMs: 100 }), CriDeadlineError);
      server.runtime.faults.clear();
      await cri.ListContainers({});
    } finally {
      cri.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
