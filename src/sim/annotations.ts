// Container annotations that steer a simulated container beyond what its command says. All
// live under `sim.kubelet-ts.io/`; containerd ignores them, so the same pod spec runs on both.
//
//   exit-code          "3"      the exit code of any exit the container makes by itself
//   run-seconds        "30"     the container exits this long after it starts (output of its
//                               command still appears until then); "0" exits at once
//   ignore-sigterm     "true"   SIGTERM is ignored: StopContainer waits its whole timeout, then
//                               kills (exit 137). "false": SIGTERM ends the container
//   sigterm-seconds    "5"      how long a container that handles SIGTERM takes to exit
//   sigterm-exit-code  "143"    exit code after a handled SIGTERM (default 0)
//   oom-after-seconds  "10"     killed by the OOM killer then: exit 137, reason OOMKilled
//   start-error        "text"   StartContainer fails with this text; the container is left
//                               exited with code 128 and reason StartError, as containerd does
//   log-lines          "100"    prints this many numbered lines to stdout when it starts
//   log-every-seconds  "1"      prints one numbered line to stdout every so often while running
//   exec-sync          JSON     ExecSync answers by command line (argv joined with spaces),
//                               "*" for any other command:
//                               {"cat /tmp/healthy": {"exitCode": 1, "stderr": "no\n"},
//                                "*": {"exitCode": 0, "stdout": "ok\n", "seconds": 0.5}}
import { criError } from '../native/cri/errors.js';

export const SIM_ANNOTATION_PREFIX = 'sim.kubelet-ts.io/';

export interface ExecAnswer {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** How long the command takes (a timeout shorter than this fails the ExecSync). */
  seconds: number;
}

export interface SimBehaviour {
  exitCode?: number;
  runMs?: number;
  ignoreSigterm?: boolean;
  sigtermMs: number;
  sigtermExitCode?: number;
  oomAfterMs?: number;
  startError?: string;
  logLines: number;
  logEveryMs?: number;
  execSync: Map<string, ExecAnswer>;
}

function bad(key: string, value: string, want: string): never {
  throw criError('KTS_CRI_INVALID_ARGUMENT', `annotation ${SIM_ANNOTATION_PREFIX}${key}=${JSON.stringify(value)}: ${want}`);
}

function seconds(key: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) bad(key, value, 'expected a number of seconds >= 0');
  return n * 1000;
}

function int(key: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) bad(key, value, `expected an integer from ${min} to ${max}`);
  return n;
}

export function parseExecAnswer(v: unknown, where: string): ExecAnswer {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${where}: expected an object like {"exitCode": 0, "stdout": "ok\\n"}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['exitCode', 'stdout', 'stderr', 'seconds'].includes(k))
      throw new Error(`${where}: unknown field ${JSON.stringify(k)} (known: exitCode, stdout, stderr, seconds)`);
  }
  const exitCode = o['exitCode'] ?? 0;
  const secs = o['seconds'] ?? 0;
  if (typeof exitCode !== 'number' || !Number.isInteger(exitCode)) throw new Error(`${where}.exitCode: expected an integer`);
  if (typeof secs !== 'number' || !(secs >= 0)) throw new Error(`${where}.seconds: expected a number >= 0`);
  for (const k of ['stdout', 'stderr']) {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw new Error(`${where}.${k}: expected a string`);
  }
  return { exitCode, stdout: (o['stdout'] as string | undefined) ?? '', stderr: (o['stderr'] as string | undefined) ?? '', seconds: secs };
}

/** Reads the sim annotations of a container; throws InvalidArgument naming a bad one. */
export function parseBehaviour(annotations: Readonly<Record<string, string>>): SimBehaviour {
  const b: SimBehaviour = { sigtermMs: 0, logLines: 0, execSync: new Map() };
  for (const [fullKey, value] of Object.entries(annotations)) {
    if (!fullKey.startsWith(SIM_ANNOTATION_PREFIX)) continue;
    const key = fullKey.slice(SIM_ANNOTATION_PREFIX.length);
    switch (key) {
      case 'exit-code':
        b.exitCode = int(key, value, 0, 255);
        break;
      case 'run-seconds':
        b.runMs = seconds(key, value);
        break;
      case 'ignore-sigterm':
        if (value !== 'true' && value !== 'false') bad(key, value, 'expected "true" or "false"');
        b.ignoreSigterm = value === 'true';
        break;
      case 'sigterm-seconds':
        b.sigtermMs = seconds(key, value);
        break;
      case 'sigterm-exit-code':
        b.sigtermExitCode = int(key, value, 0, 255);
        break;
      case 'oom-after-seconds':
        b.oomAfterMs = seconds(key, value);
        break;
      case 'start-error':
        b.startError = value;
        break;
      case 'log-lines':
        b.logLines = int(key, value, 0, 1_000_000);
        break;
      case 'log-every-seconds': {
        const ms = seconds(key, value);
        if (ms <= 0) bad(key, value, 'expected a number of seconds > 0');
        b.logEveryMs = ms;
        break;
      }
      case 'exec-sync': {
        let parsed: unknown;
        try {
          parsed = JSON.parse(value);
        } catch {
          bad(key, value, 'expected JSON like {"cat /tmp/healthy": {"exitCode": 0}}');
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) bad(key, value, 'expected a JSON object keyed by command line');
        for (const [cmd, answer] of Object.entries(parsed as Record<string, unknown>)) {
          try {
            b.execSync.set(cmd, parseExecAnswer(answer, cmd));
          } catch (err) {
            bad(key, value, err instanceof Error ? err.message : String(err));
          }
        }
        break;
      }
      default:
        bad(
          key,
          value,
          'unknown sim annotation (known: exit-code, run-seconds, ignore-sigterm, sigterm-seconds, sigterm-exit-code, oom-after-seconds, start-error, log-lines, log-every-seconds, exec-sync)',
        );
    }
  }
  return b;
}
