// What ExecSync answers in a simulated container: a fixed answer (set through the API, or the
// exec-sync annotation, by command line or '*'), else the command scheme run at once against
// the container's files and environment. Sleeps in the command become the answer's duration,
// which the runtime waits on its clock (and which a shorter ExecSync timeout cuts short).
import { compileCommand } from './command.js';
import type { Container } from './objects.js';

export interface ExecOutcome {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** How long the command takes, in milliseconds (Infinity: never ends). */
  ms: number;
  /** Applies the command's file writes to the container (once it has run). */
  apply: () => void;
}

export function execAnswer(c: Container, hostname: string, cmd: readonly string[]): ExecOutcome {
  const line = cmd.join(' ');
  const fixed = c.execAnswers.get(line) ?? c.behaviour.execSync.get(line) ?? c.execAnswers.get('*') ?? c.behaviour.execSync.get('*');
  if (fixed) return { stdout: fixed.stdout, stderr: fixed.stderr, exitCode: fixed.exitCode, ms: fixed.seconds * 1000, apply: () => undefined };
  const env = new Map(c.config.envs.map((kv) => [kv.key, kv.value] as const));
  const program = compileCommand(cmd, { mode: 'exec', files: c.files, env, hostname });
  let stdout = '';
  let stderr = '';
  let ms = 0;
  let exitCode = program.exitCode;
  const fileSteps: { path: string; content: string | undefined }[] = [];
  for (const step of program.steps) {
    if (step.kind === 'out') {
      if (step.stream === 'stdout') stdout += step.text;
      else stderr += step.text;
    } else if (step.kind === 'sleep') {
      ms += step.ms;
    } else if (step.kind === 'file') {
      fileSteps.push(step);
    } else {
      exitCode = step.code;
      break;
    }
  }
  return {
    stdout,
    stderr,
    exitCode,
    ms,
    apply: () => {
      for (const f of fileSteps) {
        if (f.content === undefined) c.files.delete(f.path);
        else c.files.set(f.path, f.content);
      }
    },
  };
}
