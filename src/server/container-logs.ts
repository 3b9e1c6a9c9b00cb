// Reading container logs for `kubectl logs`: the CRI log format the runtime writes under
// /var/log/pods/<ns>_<pod>_<uid>/<container>/<restart>.log, one record per line:
//   2016-10-06T00:17:09.669794202Z stdout F some text
//   2016-10-06T00:17:09.669794202Z stdout P a partial line, continued by the next record
// with upstream's options: tailLines, sinceSeconds / sinceTime, timestamps, limitBytes, follow
// (and previous, by picking the previous restart's file; the caller chooses the path).
//
// As upstream's kuberuntime log reader, the output is record by record: a full (F) record is its
// text and a newline, a partial (P) record its text alone, so the next record continues the line
// and output that never ended in a newline (`echo -n DONE`: a P record and no F after it) is
// still there. With timestamps every record has its own; tailLines counts records (the file's
// lines), partial ones included; limitBytes cuts the output; sinceTime is per record.
import { open, stat } from 'node:fs/promises';
import { watch } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

export interface LogRecord {
  /** RFC 3339 nano timestamp as written. */
  time: string;
  timeMs: number;
  stream: 'stdout' | 'stderr';
  /** The record's text, without the newline. */
  text: string;
  /** Tagged P: the line goes on in the next record (no newline is written after it). */
  partial: boolean;
}

export interface LogOptions {
  tailLines?: number;
  sinceMs?: number;
  timestamps?: boolean;
  limitBytes?: number;
  follow?: boolean;
  /** Only these streams (default both). */
  streams?: readonly ('stdout' | 'stderr')[];
}

// <time> <stream> <tags> <text>; tags are ':'-separated, the first is F or P (forward compatible).
const RECORD = /^(\S+) (stdout|stderr) ([FP])(?::\S*)? ?(.*)$/;

/** Parses CRI log text into records; malformed lines are skipped (and counted). */
export class CriLogParser {
  private carry = '';
  malformed = 0;

  /** Feeds a chunk of file content; returns the records of the lines it finished. */
  push(chunk: string): LogRecord[] {
    const text = this.carry + chunk;
    const lines = text.split('\n');
    this.carry = lines.pop() ?? '';
    const out: LogRecord[] = [];
    for (const line of lines) {
      const m = RECORD.exec(line);
      if (!m) {
        if (line !== '') this.malformed++;
        continue;
      }
      const [, time = '', stream, tag, body = ''] = m;
      out.push({ time, timeMs: Date.parse(time), stream: stream === 'stderr' ? 'stderr' : 'stdout', text: body, partial: tag === 'P' });
    }
    return out;
  }
}

/** One record as upstream writes it: `[<time> ]<text>`, and a newline unless it is partial. */
export function formatRecord(r: LogRecord, timestamps: boolean): string {
  const line = r.partial ? r.text : `${r.text}\n`;
  return timestamps ? `${r.time} ${line}` : line;
}

/**
 * Writes the log of one container to `write` as `kubectl logs` expects, and, with follow, keeps
 * writing new records until `signal` aborts (the client went away) or `stopWhen` says the
 * container is gone. Resolves when done. Reads in chunks: a big log never sits in memory.
 */
export async function streamContainerLog(
  path: string,
  opts: LogOptions,
  write: (text: string) => boolean | Promise<void>,
  signal?: AbortSignal,
  stopWhen?: () => Promise<boolean>,
): Promise<void> {
  const streams = opts.streams ?? ['stdout', 'stderr'];
  let budget = opts.limitBytes ?? Infinity;
  const parser = new CriLogParser();
  // A 64 KiB read can end inside a UTF-8 character: the decoder keeps its first bytes for the next.
  const decoder = new StringDecoder('utf8');
  const emit = async (records: LogRecord[]): Promise<boolean> => {
    for (const r of records) {
      if (!streams.includes(r.stream)) continue;
      if (opts.sinceMs !== undefined && r.timeMs < opts.sinceMs) continue;
      let text = formatRecord(r, opts.timestamps ?? false);
      if (Buffer.byteLength(text) > budget) text = Buffer.from(text).subarray(0, budget).toString();
      budget -= Buffer.byteLength(text);
      await write(text);
      if (budget <= 0) return false;
    }
    return true;
  };

  const fh = await open(path, 'r');
  try {
    let position = 0;
    const buf = Buffer.alloc(64 * 1024);
    const readMore = async (): Promise<LogRecord[]> => {
      const out: LogRecord[] = [];
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, position);
        if (bytesRead === 0) return out;
        position += bytesRead;
        out.push(...parser.push(decoder.write(buf.subarray(0, bytesRead))));
      }
    };
    // First pass: everything (or the last tailLines records, kept in a ring) up to the end now.
    const tail = opts.tailLines;
    if (tail === undefined) {
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, position);
        if (bytesRead === 0) break;
        position += bytesRead;
        if (!(await emit(parser.push(decoder.write(buf.subarray(0, bytesRead)))))) return;
      }
    } else {
      const ring: LogRecord[] = [];
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, position);
        if (bytesRead === 0) break;
        position += bytesRead;
        for (const r of parser.push(decoder.write(buf.subarray(0, bytesRead)))) {
          if (!streams.includes(r.stream) || tail <= 0) continue;
          ring.push(r);
          if (ring.length >= 2 * tail) ring.splice(0, ring.length - tail);
        }
      }
      if (!(await emit(ring.slice(-tail)))) return;
    }
    if (!opts.follow) return;

    // Follow: wake on change (or every second, as watches can miss appends), until aborted.
    while (!signal?.aborted) {
      await new Promise<void>((resolve) => {
        const w = watch(path, { persistent: false }, () => done());
        const t = setTimeout(() => done(), 1000);
        const onAbort = (): void => done();
        signal?.addEventListener('abort', onAbort, { once: true });
        function done(): void {
          w.close();
          clearTimeout(t);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        }
      });
      const st = await stat(path).catch(() => undefined);
      if (st && st.size < position) position = 0; // truncated or rotated in place: start over
      if (!(await emit(await readMore()))) return;
      if (stopWhen && (await stopWhen())) {
        await emit(await readMore());
        return;
      }
    }
  } finally {
    await fh.close();
  }
}
