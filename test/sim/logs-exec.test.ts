// Container logs in the CRI format (and their rotation through ReopenContainerLog) and ExecSync
// answers: the default interpreter, per-container answers by annotation and by API, timeouts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CriDeadlineError, CriNotFoundError, CriRuntimeError } from '../../src/native/cri/errors.js';
import { SIM_ANNOTATION_PREFIX as P } from '../../src/sim/index.js';
import { criLogLines, rfc3339Nano } from '../../src/sim/logs.js';
import { settle, simHarness, type SimHarness } from './sim-fixtures.js';

const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) F .*$/;

describe('sim container logs', () => {
  let h: SimHarness;
  before(async () => {
    h = await simHarness();
  });
  after(async () => {
    await h.close();
  });

  it('formats CRI log lines with nanosecond RFC 3339 times', () => {
    assert.equal(rfc3339Nano(Date.UTC(2016, 9, 6, 0, 17, 9, 669) + 0.5), '2016-10-06T00:17:09.669500000Z');
    assert.equal(criLogLines(0, 'stdout', 'a\nb\n'), '1970-01-01T00:00:00.000000000Z stdout F a\n1970-01-01T00:00:00.000000000Z stdout F b\n');
  });

  it('writes echo output under the sandbox log directory at the container log path, in order and on time', async () => {
    const { id, pod } = await h.container(['sh', '-c', 'echo one; sleep 2; echo two >&2; exit 0']);
    await h.advance(2_000);
    await h.sim.flushLogs();
    const st = await h.status(id);
    assert.ok(st.logPath.startsWith(`${h.logRoot}/${pod.namespace}_${pod.name}_${pod.uid}/`), st.logPath);
    const lines = (await readFile(st.logPath, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 2);
    for (const l of lines) assert.match(l, LINE);
    assert.match(lines[0] ?? '', / stdout F one$/);
    assert.match(lines[1] ?? '', / stderr F two$/);
    const t0 = Date.parse((lines[0] ?? '').slice(0, 23) + 'Z');
    const t1 = Date.parse((lines[1] ?? '').slice(0, 23) + 'Z');
    assert.equal(t1 - t0, 2000, 'the second line is written 2 s of clock time later');
  });

  it('reopens the log file after rotation, as the kubelet rotates', async () => {
    const { id } = await h.container(['sh', '-c', 'while true; do echo tick; sleep 10; done']);
    await h.sim.flushLogs();
    const path = (await h.status(id)).logPath;
    await rename(path, `${path}.1`);
    await h.cri.ReopenContainerLog({ containerId: id });
    assert.equal(await readFile(path, 'utf8'), '', 'a fresh file at the original path');
    await h.advance(10_000);
    await h.sim.flushLogs();
    assert.match(await readFile(path, 'utf8'), / stdout F tick\n$/);
    assert.equal((await readFile(`${path}.1`, 'utf8')).split('\n').filter(Boolean).length, 1, 'the rotated file keeps the old line');
    await h.cri.StopContainer({ containerId: id, timeout: 0 });
    await assert.rejects(h.cri.ReopenContainerLog({ containerId: id }), CriRuntimeError, 'not running');
  });
});

describe('sim container logs, regression', () => {
  it('does not re-create a log folder removed while the container still prints', async () => {
    const h = await simHarness();
    try {
      const { id } = await h.container(['sh', '-c', 'while true; do echo tick; sleep 1; done']);
      await h.sim.flushLogs();
      const dir = dirname((await h.status(id)).logPath);
      assert.equal(existsSync(dir), true);
      await rm(dir, { recursive: true, force: true });
      await h.advance(5_000);
      await h.sim.flushLogs();
      assert.equal(existsSync(dir), false, 'later output goes nowhere, as with containerd');
    } finally {
      await h.close();
    }
  });
});

describe('sim ExecSync', () => {
  let h: SimHarness;
  before(async () => {
    h = await simHarness();
  });
  after(async () => {
    await h.close();
  });

  it('interprets common commands: echo, exit codes, stderr, env, unknown commands', async () => {
    const { id } = await h.container(['sleep', 'infinity']);
    const echo = await h.cri.ExecSync({ containerId: id, cmd: ['echo', 'hi'], timeout: 5 });
    assert.deepEqual([echo.stdout.toString(), echo.exitCode], ['hi\n', 0]);
    const f = await h.cri.ExecSync({ containerId: id, cmd: ['false'], timeout: 5 });
    assert.equal(f.exitCode, 1);
    const sh = await h.cri.ExecSync({ containerId: id, cmd: ['sh', '-c', 'echo err >&2; exit 4'], timeout: 5 });
    assert.deepEqual([sh.stderr.toString(), sh.exitCode], ['err\n', 4]);
    const env = await h.cri.ExecSync({ containerId: id, cmd: ['printenv', 'POD_NAME'], timeout: 5 });
    assert.match(env.stdout.toString(), /^p-/);
    const unknown = await h.cri.ExecSync({ containerId: id, cmd: ['pg_isready', '-h', 'localhost'], timeout: 5 });
    assert.equal(unknown.exitCode, 0);
  });

  it('sees the files the container command wrote (the classic liveness probe)', async () => {
    const { id } = await h.container(['sh', '-c', 'touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600']);
    const probe = () => h.cri.ExecSync({ containerId: id, cmd: ['cat', '/tmp/healthy'], timeout: 1 });
    assert.equal((await probe()).exitCode, 0);
    await h.advance(30_000);
    const failed = await probe();
    assert.equal(failed.exitCode, 1);
    assert.match(failed.stderr.toString(), /No such file/);
  });

  it('answers from the exec-sync annotation, and from setExecSync over it', async () => {
    const { id } = await h.container(['my-server'], {
      annotations: { [`${P}exec-sync`]: JSON.stringify({ '/ready': { exitCode: 1, stdout: 'not yet\n' }, '*': { stdout: 'default\n' } }) },
    });
    const ready = await h.cri.ExecSync({ containerId: id, cmd: ['/ready'], timeout: 5 });
    assert.deepEqual([ready.exitCode, ready.stdout.toString()], [1, 'not yet\n']);
    const other = await h.cri.ExecSync({ containerId: id, cmd: ['anything', 'else'], timeout: 5 });
    assert.deepEqual([other.exitCode, other.stdout.toString()], [0, 'default\n']);
    h.sim.setExecSync(id, '/ready', { exitCode: 0, stdout: 'ok\n' });
    const now = await h.cri.ExecSync({ containerId: id, cmd: ['/ready'], timeout: 5 });
    assert.deepEqual([now.exitCode, now.stdout.toString()], [0, 'ok\n']);
  });

  it('fails with DeadlineExceeded when the command outlasts its timeout, and waits when it does not', async () => {
    const { id } = await h.container(['my-server']);
    let done = false;
    const slow = h.cri.ExecSync({ containerId: id, cmd: ['sleep', '10'], timeout: 2 }).finally(() => {
      done = true;
    });
    slow.catch(() => undefined);
    await h.advance(1_000);
    assert.equal(done, false);
    await h.advance(1_000);
    await assert.rejects(slow, (err: unknown) => err instanceof CriDeadlineError && /timeout 2s exceeded/.test(err.message));
    const ok = h.cri.ExecSync({ containerId: id, cmd: ['sh', '-c', 'sleep 1; echo late'], timeout: 5 });
    await settle();
    await h.advance(1_000);
    assert.equal((await ok).stdout.toString(), 'late\n');
  });

  it('refuses exec in unknown and exited containers', async () => {
    await assert.rejects(h.cri.ExecSync({ containerId: 'a'.repeat(64), cmd: ['true'], timeout: 1 }), CriNotFoundError);
    const { id } = await h.container(['true']);
    await assert.rejects(
      h.cri.ExecSync({ containerId: id, cmd: ['true'], timeout: 1 }),
      (err: unknown) => err instanceof CriRuntimeError && /CONTAINER_EXITED/.test(err.message),
    );
  });
});
