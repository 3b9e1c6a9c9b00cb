// Sim annotations (sim.kubelet-ts.io/...) steering exit codes, run time, SIGTERM handling, OOM,
// start errors and log volume; a bad annotation is refused with InvalidArgument naming it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { CriInvalidArgumentError, CriRuntimeError } from '../../src/native/cri/errors.js';
import { SIM_ANNOTATION_PREFIX as P } from '../../src/sim/index.js';
import { simHarness, type SimHarness } from './sim-fixtures.js';

describe('sim annotations', () => {
  let h: SimHarness;
  before(async () => {
    h = await simHarness();
  });
  after(async () => {
    await h.close();
  });

  it('run-seconds and exit-code make a server exit after a while with a chosen code', async () => {
    const { id } = await h.container(['my-server'], { annotations: { [`${P}run-seconds`]: '5', [`${P}exit-code`]: '42' } });
    await h.advance(4_999);
    assert.equal((await h.status(id)).state, 'CONTAINER_RUNNING');
    await h.advance(1);
    const st = await h.status(id);
    assert.deepEqual([st.state, st.exitCode, st.reason], ['CONTAINER_EXITED', 42, 'Error']);
  });

  it('exit-code overrides the exit of the command itself', async () => {
    const { id } = await h.container(['true'], { annotations: { [`${P}exit-code`]: '9' } });
    assert.equal((await h.status(id)).exitCode, 9);
  });

  it('ignore-sigterm=true makes a server take the whole stop timeout and die with 137', async () => {
    const { id } = await h.container(['my-server'], { annotations: { [`${P}ignore-sigterm`]: 'true' } });
    const stopping = h.cri.StopContainer({ containerId: id, timeout: 20 });
    await h.advance(19_000);
    assert.equal((await h.status(id)).state, 'CONTAINER_RUNNING');
    await h.advance(1_000);
    await stopping;
    assert.equal((await h.status(id)).exitCode, 137);
  });

  it('ignore-sigterm=false with sigterm-seconds lets `sleep` shut down gracefully', async () => {
    const { id } = await h.container(['sleep', '3600'], {
      annotations: { [`${P}ignore-sigterm`]: 'false', [`${P}sigterm-seconds`]: '3', [`${P}sigterm-exit-code`]: '143' },
    });
    const stopping = h.cri.StopContainer({ containerId: id, timeout: 30 });
    await h.advance(3_000);
    await stopping;
    const st = await h.status(id);
    assert.deepEqual([st.exitCode, st.reason], [143, 'Error']);
    assert.equal(st.finishedAt - st.startedAt, 3e9);
  });

  it('a shutdown slower than the timeout is cut short by SIGKILL', async () => {
    const { id } = await h.container(['my-server'], { annotations: { [`${P}sigterm-seconds`]: '60' } });
    const stopping = h.cri.StopContainer({ containerId: id, timeout: 2 });
    await h.advance(2_000);
    await stopping;
    assert.equal((await h.status(id)).exitCode, 137);
  });

  it('oom-after-seconds ends the container as OOMKilled', async () => {
    const { id } = await h.container(['sleep', 'infinity'], { annotations: { [`${P}oom-after-seconds`]: '1' } });
    await h.advance(1_000);
    const st = await h.status(id);
    assert.deepEqual([st.state, st.exitCode, st.reason], ['CONTAINER_EXITED', 137, 'OOMKilled']);
  });

  it('start-error fails StartContainer and leaves the container exited with 128 / StartError', async () => {
    const { id } = await h.container(['nope'], { start: false, annotations: { [`${P}start-error`]: 'exec: "nope": executable file not found in $PATH' } });
    await assert.rejects(h.cri.StartContainer({ containerId: id }), (err: unknown) => {
      assert.ok(err instanceof CriRuntimeError, String(err));
      assert.match(err.message, /executable file not found/);
      return true;
    });
    const st = await h.status(id);
    assert.deepEqual([st.state, st.exitCode, st.reason], ['CONTAINER_EXITED', 128, 'StartError']);
    assert.match(st.message, /executable file not found/);
  });

  it('log-lines and log-every-seconds write numbered CRI lines', async () => {
    const { id } = await h.container(['my-server'], { annotations: { [`${P}log-lines`]: '3', [`${P}log-every-seconds`]: '10' } });
    await h.advance(25_000);
    await h.sim.flushLogs();
    const text = await readFile((await h.status(id)).logPath, 'utf8');
    const lines = text.trim().split('\n');
    assert.equal(lines.length, 5, text);
    assert.match(lines[0] ?? '', / stdout F sim log line 1\/3$/);
    assert.match(lines[4] ?? '', / stdout F sim tick 2$/);
  });

  it('refuses a malformed or unknown sim annotation with InvalidArgument naming it', async () => {
    for (const [key, value] of [
      ['exit-code', 'three'],
      ['run-seconds', '-1'],
      ['ignore-sigterm', 'yes'],
      ['exec-sync', '{not json'],
      ['no-such-knob', '1'],
    ] as const) {
      await assert.rejects(h.container(['true'], { annotations: { [`${P}${key}`]: value } }), (err: unknown) => {
        assert.ok(err instanceof CriInvalidArgumentError, `${key}: ${String(err)}`);
        assert.ok(err.message.includes(`${P}${key}`), err.message);
        return true;
      });
    }
  });
});
