// Durations as the upstream kubelet writes them: Go's time.Duration text ("1m0s", "300ms",
// "1h2m3.5s", "0"), both in flags and in the KubeletConfiguration file. Milliseconds inside.

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses Go duration text into milliseconds; throws with the text quoted when it is not one. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (t === '0' || t === '+0' || t === '-0') return 0;
  const m = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+$/u.exec(t);
  if (!m) throw new Error(`invalid duration "${text}": expected e.g. 2m, 90s, 1m30s or 500ms`);
  let total = 0;
  for (const part of t.slice(m[1]?.length ?? 0).matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gu)) {
    total += Number(part[1]) * (UNIT_MS[part[2] ?? ''] ?? NaN);
  }
  return m[1] === '-' ? -total : total;
}

/** Formats milliseconds as Go does ("1m0s", "10s", "500ms", "0s"), for /configz and messages. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${rest}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Number((rest / 1000).toFixed(9));
  return `${sign}${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}
