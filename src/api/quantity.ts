// Kubernetes resource quantities ("100m", "1.5", "128Mi", "1G", "2e3"): parse to a number in the
// base unit (cores for cpu, bytes for memory and storage) and format back the way the API server
// prints them for the node's capacity and allocatable. Exact for the values nodes deal in.

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

export class QuantityError extends Error {
  readonly code = 'KTS_BAD_QUANTITY';
}

/** The value of a quantity in its base unit. Throws QuantityError on text that is not one. */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/.exec(q.trim());
  if (!m?.[1]) throw new QuantityError(`"${q}" is not a quantity (e.g. 100m, 1.5, 128Mi, 1G)`);
  const n = Number(m[1]);
  if (m[2]) return n * 10 ** Number(m[2].slice(1));
  const suffix = m[3] ?? '';
  const mul = BINARY[suffix] ?? DECIMAL[suffix] ?? 1;
  return n * mul;
}

/** CPU as the API server prints it: whole cores as "2", else millicores "1900m". */
export function formatCpu(cores: number): string {
  const milli = Math.max(0, Math.round(cores * 1000));
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/** Bytes as the API server prints memory and storage: "24683584Ki" when a whole number of Ki, else bytes. */
export function formatBytes(bytes: number): string {
  const b = Math.max(0, Math.floor(bytes));
  return b % 1024 === 0 ? `${b / 1024}Ki` : String(b);
}
