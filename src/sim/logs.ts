// Container log files in the CRI format the kubelet reads (`kubectl logs`):
//   2016-10-06T00:17:09.669794202Z stdout F hello
// one line per line of output, RFC 3339 time with nanoseconds, stream, F (full line) tag.
// The file is created when the container starts (as containerd does) and each chunk of output
// is appended by path, holding no descriptor between writes: a node of 10,000 simulated
// containers must not hold 10,000 open files. Rotation works as the kubelet expects: it renames
// the file and calls ReopenContainerLog, which creates a fresh file at the original path.
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Stream } from './command.js';

/** RFC 3339 with nanoseconds from epoch milliseconds (fractional ms kept to the nanosecond). */
export function rfc3339Nano(ms: number): string {
  const whole = Math.floor(ms);
  const iso = new Date(whole).toISOString(); // 2016-10-06T00:17:09.669Z
  const subMs = Math.min(999_999, Math.max(0, Math.round((ms - whole) * 1e6)));
  return `${iso.slice(0, 23)}${String(subMs).padStart(6, '0')}Z`;
}

/** The CRI log lines for one chunk of output (a trailing newline does not make an empty line). */
export function criLogLines(ms: number, stream: Stream, text: string): string {
  const ts = rfc3339Nano(ms);
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  return body
    .split('\n')
    .map((line) => `${ts} ${stream} F ${line}\n`)
    .join('');
}

export class ContainerLog {
  private chain: Promise<void> = Promise.resolve();
  private warned = false;

  constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {}

  /** At start: creates the file (and its folder, as containerd does) if missing. */
  touch(): Promise<void> {
    return this.enqueue('', true);
  }

  /**
   * Appends output. The folder is never re-created here: with containerd a removed log folder
   * means the lines go nowhere, and a simulated container must not resurrect what a test (or
   * the kubelet) deleted.
   */
  write(ms: number, stream: Stream, text: string): void {
    void this.enqueue(criLogLines(ms, stream, text), false);
  }

  /** After a rename by the kubelet: a new, empty file at the original path. */
  reopen(): Promise<void> {
    return this.enqueue('', true);
  }

  /** Resolves when everything written so far is on disk. */
  flush(): Promise<void> {
    return this.chain;
  }

  private enqueue(data: string, create: boolean): Promise<void> {
    this.chain = this.chain.then(async () => {
      try {
        if (create) await mkdir(dirname(this.path), { recursive: true });
        await appendFile(this.path, data);
      } catch (err) {
        if (!this.warned) {
          this.warned = true;
          this.log.warn({ path: this.path, err: err instanceof Error ? err.message : String(err) }, 'cannot write container log');
        }
      }
    });
    return this.chain;
  }
}
