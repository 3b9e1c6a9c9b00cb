// The command scheme: what a simulated container's command makes it print, how long it runs
// and how it exits, and how it takes SIGTERM. Time moves on a manual clock, so `sleep 30` ends
// when the test says so, not after 30 s.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { compileCommand } from '../../src/sim/index.js';
import { parseSleep, tokenize } from '../../src/sim/command.js';
import { simHarness, type SimHarness } from './sim-fixtures.js';

describe('sim command compiler', () => {
  it('tokenizes quotes, escapes and operators as sh does', () => {
    assert.deepEqual(
      tokenize(`echo 'a b' "c \\"d\\"" e\\ f; x && y || z >&2`).map((t) => t.v),
      ['echo', 'a b', 'c "d"', 'e f', ';', 'x', '&&', 'y', '||', 'z', '>&2'],
    );
  });

  it('parses sleep arguments with units and infinity', () => {
    assert.equal(parseSleep('30'), 30_000);
    assert.equal(parseSleep('1.5'), 1500);
    assert.equal(parseSleep('2m'), 120_000);
    assert.equal(parseSleep('1h'), 3_600_000);
    assert.equal(parseSleep('infinity'), Infinity);
    assert.equal(parseSleep('soon'), undefined);
  });

  it('compiles sequences, exit codes and && / ||', () => {
    const p = compileCommand(['sh', '-c', 'echo a; sleep 2; exit 1'], { mode: 'run' });
    assert.deepEqual(p.steps, [
      { kind: 'out', stream: 'stdout', text: 'a\n' },
      { kind: 'sleep', ms: 2000 },
      { kind: 'exit', code: 1 },
    ]);
    assert.equal(compileCommand(['false'], { mode: 'run' }).exitCode, 1);
    assert.equal(compileCommand(['/bin/true'], { mode: 'run' }).exitCode, 0);
    const andOr = compileCommand(['sh', '-c', 'false && echo no || echo yes'], { mode: 'run' });
    assert.deepEqual(andOr.steps, [{ kind: 'out', stream: 'stdout', text: 'yes\n' }]);
    const stderr = compileCommand(['sh', '-c', 'echo oops >&2; echo quiet > /dev/null'], { mode: 'run' });
    assert.deepEqual(stderr.steps, [{ kind: 'out', stream: 'stderr', text: 'oops\n' }]);
  });

  it('makes unknown commands and empty commands run forever, and handle SIGTERM', () => {
    for (const argv of [['nginx', '-g', 'daemon off;'], []]) {
      const p = compileCommand(argv, { mode: 'run' });
      assert.deepEqual(p.steps, [{ kind: 'sleep', ms: Infinity }], argv.join(' '));
      assert.deepEqual(p.onTerm, { exitCode: 0 });
    }
    assert.equal(compileCommand(['sleep', '10'], { mode: 'run' }).onTerm, 'ignore', 'sleep as PID 1 ignores SIGTERM');
    assert.equal(compileCommand(['sh', '-c', 'sleep 10'], { mode: 'run' }).onTerm, 'ignore', 'sh as PID 1 ignores SIGTERM');
    assert.deepEqual(compileCommand(['sh', '-c', "trap 'exit 5' TERM; sleep 100 & wait"], { mode: 'run' }).onTerm, { exitCode: 5 });
  });

  it('compiles while-true loops into a repeating body, and `sleep & wait` into a wait', () => {
    const loop = compileCommand(['sh', '-c', 'while true; do echo tick; sleep 5; done'], { mode: 'run' });
    assert.equal(loop.loopFrom, 0);
    assert.deepEqual(loop.steps, [
      { kind: 'out', stream: 'stdout', text: 'tick\n' },
      { kind: 'sleep', ms: 5000 },
    ]);
    const spin = compileCommand(['sh', '-c', 'while :; do :; done'], { mode: 'run' });
    assert.deepEqual(spin.steps, [{ kind: 'sleep', ms: Infinity }], 'a loop that takes no time runs forever without spinning');
    const wait = compileCommand(['sh', '-c', 'sleep 100 & wait; exit 4'], { mode: 'run' });
    assert.deepEqual(wait.steps, [
      { kind: 'sleep', ms: 100_000 },
      { kind: 'exit', code: 4 },
    ]);
  });

  it('answers ExecSync commands: unknown ones succeed quietly, files are seen', () => {
    const files = new Map([['/tmp/healthy', '']]);
    assert.equal(compileCommand(['pg_isready'], { mode: 'exec' }).exitCode, 0);
    assert.equal(compileCommand(['cat', '/tmp/healthy'], { mode: 'exec', files }).exitCode, 0);
    const missing = compileCommand(['cat', '/tmp/nothing'], { mode: 'exec', files });
    assert.equal(missing.exitCode, 1);
    assert.match((missing.steps[0] as { text: string }).text, /No such file/);
    const env = compileCommand(['printenv', 'POD_NAME'], { mode: 'exec', env: new Map([['POD_NAME', 'web-1']]) });
    assert.deepEqual(env.steps, [{ kind: 'out', stream: 'stdout', text: 'web-1\n' }]);
  });
});

describe('sim containers follow their command', () => {
  let h: SimHarness;
  before(async () => {
    h = await simHarness();
  });
  after(async () => {
    await h.close();
  });

  it('`sleep 30` runs 30 s of clock time, then exits 0 as Completed', async () => {
    const { id } = await h.container(['sleep', '30']);
    await h.advance(29_000);
    assert.equal((await h.status(id)).state, 'CONTAINER_RUNNING');
    await h.advance(1_000);
    const st = await h.status(id);
    assert.equal(st.state, 'CONTAINER_EXITED');
    assert.equal(st.exitCode, 0);
    assert.equal(st.reason, 'Completed');
    assert.equal(st.finishedAt - st.startedAt, 30e9, 'ran 30 s in nanoseconds');
  });

  it('`sleep infinity` and unknown commands keep running', async () => {
    const a = await h.container(['sleep', 'infinity']);
    const b = await h.container(['/usr/local/bin/my-server', '--port', '8080']);
    await h.advance(24 * 3600_000);
    assert.equal((await h.status(a.id)).state, 'CONTAINER_RUNNING');
    assert.equal((await h.status(b.id)).state, 'CONTAINER_RUNNING');
  });

  it('`exit 3` in sh, `false` and `true` exit at once with their codes', async () => {
    const cases: [string[], number, string][] = [
      [['sh', '-c', 'exit 3'], 3, 'Error'],
      [['false'], 1, 'Error'],
      [['true'], 0, 'Completed'],
      [['echo', 'hello'], 0, 'Completed'],
    ];
    for (const [cmd, code, reason] of cases) {
      const { id } = await h.container(cmd);
      const st = await h.status(id);
      assert.equal(st.state, 'CONTAINER_EXITED', cmd.join(' '));
      assert.equal(st.exitCode, code, cmd.join(' '));
      assert.equal(st.reason, reason, cmd.join(' '));
    }
  });

  it('runs `sh -c "echo a; sleep 2; exit 1"` in sequence', async () => {
    const { id } = await h.container(['sh', '-c', 'echo a; sleep 2; exit 1']);
    assert.equal((await h.status(id)).state, 'CONTAINER_RUNNING');
    await h.advance(2_000);
    const st = await h.status(id);
    assert.equal(st.exitCode, 1);
    assert.equal(st.reason, 'Error');
  });

  it('takes command and args together (command ["sh", "-c"], args ["exit 7"])', async () => {
    const { id } = await h.container(['sh', '-c'], { args: ['exit 7'] });
    assert.equal((await h.status(id)).exitCode, 7);
  });

  it('StopContainer on a PID 1 that ignores SIGTERM waits the whole timeout, then 137', async () => {
    const { id } = await h.container(['sleep', '3600']);
    let stopped = false;
    const stopping = h.cri.StopContainer({ containerId: id, timeout: 10 }).then(() => {
      stopped = true;
    });
    await h.advance(9_000);
    assert.equal(stopped, false, 'still waiting for the grace period');
    assert.equal((await h.status(id)).state, 'CONTAINER_RUNNING');
    await h.advance(1_000);
    await stopping;
    const st = await h.status(id);
    assert.equal(st.exitCode, 137);
    assert.equal(st.reason, 'Error');
  });

  it('StopContainer on a server exits at once with 0; a trap exits with its code', async () => {
    const server = await h.container(['my-server']);
    await h.cri.StopContainer({ containerId: server.id, timeout: 30 });
    assert.deepEqual([(await h.status(server.id)).exitCode, (await h.status(server.id)).reason], [0, 'Completed']);
    const trapped = await h.container(['sh', '-c', "trap 'exit 143' TERM; while true; do sleep 1; done"]);
    await h.cri.StopContainer({ containerId: trapped.id, timeout: 30 });
    assert.equal((await h.status(trapped.id)).exitCode, 143);
  });

  it('repeats a while-true body on the clock', async () => {
    const { id } = await h.container(['sh', '-c', 'while true; do echo tick; sleep 5; done']);
    await h.advance(60_000);
    assert.equal((await h.status(id)).state, 'CONTAINER_RUNNING');
    assert.ok(h.sim.scheduler.size >= 1, 'its next wake is scheduled');
    await h.cri.StopContainer({ containerId: id, timeout: 0 });
    assert.equal((await h.status(id)).exitCode, 137);
  });
});
