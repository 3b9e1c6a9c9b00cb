// A reading of a host figure that may fail: the value, or why it could not be read. Readers of
// /proc, /sys and statfs return these instead of throwing, so a missing file makes one signal
// "unknown" and stops nothing else; the caller decides whether to log it (once) or show it.

export type Reading<T> = { ok: true; value: T } | { ok: false; error: string };

export function ok<T>(value: T): Reading<T> {
  return { ok: true, value };
}

export function failed<T>(error: string): Reading<T> {
  return { ok: false, error };
}

/** Runs a reader that may throw (a missing file, a parse error) and turns a throw into a value. */
export function reading<T>(what: string, read: () => T): Reading<T> {
  try {
    return ok(read());
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return failed(`${what}: ${e.code ? `${e.code} ` : ''}${e.message}`);
  }
}

/** Parses "key value" lines (memory.stat, cpu.stat, /proc/meminfo after its colon) into numbers. */
export function keyedNumbers(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([\w().]+):?\s+(\d+)/.exec(line);
    if (m?.[1] && m[2] !== undefined) out.set(m[1], Number(m[2]));
  }
  return out;
}
