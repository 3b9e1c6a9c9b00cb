// A simulated container's life once started: its program run step by step on the scheduler
// (prints, file writes, sleeps, exit), periodic log lines, run-seconds and OOM timers, and the
// stop protocol (SIGTERM, then SIGKILL at the timeout) as containerd applies it. The runtime
// owns the indexes; every state change goes through `setState` so they stay right.
import { criError } from '../native/cri/errors.js';
import type { Scheduler, SimClock } from './clock.js';
import { compileCommand, type Stream } from './command.js';
import type { Container, ContainerState, Sandbox } from './objects.js';

export class ContainerLifecycle {
  constructor(
    private readonly scheduler: Scheduler,
    private readonly clock: SimClock,
    private readonly setState: (c: Container, state: ContainerState) => void,
    /** Rejecters of calls the runtime must answer when it closes (pending stops). */
    private readonly hung: Set<(err: Error) => void>,
  ) {}

  nowNs(): number {
    return Math.round(this.clock.now() * 1e6);
  }

  start(c: Container, sb: Sandbox): void {
    const argv = [...c.config.command, ...c.config.args];
    const env = new Map(c.config.envs.map((kv) => [kv.key, kv.value] as const));
    c.program = compileCommand(argv, { mode: 'run', env, hostname: sb.config.hostname });
    c.pc = 0;
    this.setState(c, 'CONTAINER_RUNNING');
    c.startedAt = this.nowNs();
    c.startedMs = this.clock.now();
    void c.log?.touch();
    const b = c.behaviour;
    for (let i = 1; i <= b.logLines; i++) this.output(c, 'stdout', `sim log line ${i}/${b.logLines}\n`);
    if (b.logEveryMs !== undefined) this.tick(c, b.logEveryMs);
    if (b.oomAfterMs !== undefined) {
      c.timers.push(this.scheduler.after(b.oomAfterMs, () => this.finish(c, 137, 'OOMKilled')));
    }
    if (b.runMs !== undefined) {
      const code = b.exitCode ?? 0;
      if (b.runMs === 0) {
        this.finish(c, code);
        return;
      }
      c.timers.push(this.scheduler.after(b.runMs, () => this.finish(c, code)));
    }
    this.advance(c);
  }

  startFailed(c: Container, message: string): Error {
    this.setState(c, 'CONTAINER_EXITED');
    c.finishedAt = this.nowNs();
    c.exitCode = 128;
    c.reason = 'StartError';
    c.message = message;
    return criError('KTS_CRI_RUNTIME_ERROR', message);
  }

  private tick(c: Container, every: number): void {
    c.ticker = this.scheduler.after(every, () => {
      if (c.state !== 'CONTAINER_RUNNING') return;
      this.output(c, 'stdout', `sim tick ${++c.logSeq}\n`);
      this.tick(c, every);
    });
  }

  private output(c: Container, stream: Stream, text: string): void {
    c.log?.write(this.clock.now(), stream, text);
  }

  /** Runs the container's program from its current step until it sleeps or ends. */
  private advance(c: Container): void {
    const p = c.program;
    if (!p) return;
    while (c.state === 'CONTAINER_RUNNING') {
      if (c.pc >= p.steps.length) {
        if (p.loopFrom !== undefined) {
          c.pc = p.loopFrom;
          continue;
        }
        this.naturalExit(c, p.exitCode);
        return;
      }
      const step = p.steps[c.pc];
      if (!step) return;
      switch (step.kind) {
        case 'out':
          this.output(c, step.stream, step.text);
          c.pc++;
          break;
        case 'file':
          if (step.content === undefined) c.files.delete(step.path);
          else c.files.set(step.path, step.content);
          c.pc++;
          break;
        case 'exit':
          this.naturalExit(c, step.code);
          return;
        case 'sleep':
          c.pc++;
          if (step.ms === Infinity) return;
          c.wake = this.scheduler.after(step.ms, () => this.advance(c));
          return;
      }
    }
  }

  private naturalExit(c: Container, code: number): void {
    if (c.behaviour.runMs !== undefined) return; // runs until run-seconds, whatever the command
    this.finish(c, c.behaviour.exitCode ?? code);
  }

  finish(c: Container, code: number, reason?: string): void {
    if (c.state !== 'CONTAINER_RUNNING') return;
    for (const t of c.timers) t.cancel();
    c.timers = [];
    c.wake?.cancel();
    c.ticker?.cancel();
    c.wake = c.ticker = undefined;
    this.setState(c, 'CONTAINER_EXITED');
    c.finishedAt = Math.max(this.nowNs(), c.startedAt);
    c.exitCode = code;
    c.reason = reason ?? (code === 0 ? 'Completed' : 'Error');
    const waiters = c.exitWaiters;
    c.exitWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * StopContainer as containerd: timeout 0 kills at once; otherwise SIGTERM, and SIGKILL when
   * the timeout ends. Resolves when the container has exited.
   */
  stop(c: Container, timeoutSec: number): Promise<void> {
    if (c.state !== 'CONTAINER_RUNNING') return Promise.resolve();
    const exited = new Promise<void>((resolve, reject) => {
      // A runtime closing under a pending stop answers it (UNAVAILABLE) instead of leaving it.
      this.hung.add(reject);
      c.exitWaiters.push(() => {
        this.hung.delete(reject);
        resolve();
      });
    });
    if (!(timeoutSec > 0)) {
      this.finish(c, 137, 'Error');
      return exited;
    }
    if (!c.termSent) {
      c.termSent = true;
      const b = c.behaviour;
      const onTerm = c.program?.onTerm ?? 'ignore';
      const ignores = b.ignoreSigterm ?? onTerm === 'ignore';
      if (!ignores) {
        const code = b.sigtermExitCode ?? (onTerm === 'ignore' ? 0 : onTerm.exitCode);
        if (b.sigtermMs === 0) this.finish(c, code, code === 0 ? 'Completed' : 'Error');
        else c.timers.push(this.scheduler.after(b.sigtermMs, () => this.finish(c, code)));
      }
    }
    if (c.state === 'CONTAINER_RUNNING') {
      c.timers.push(this.scheduler.after(timeoutSec * 1000, () => this.finish(c, 137, 'Error')));
    }
    return exited;
  }
}
