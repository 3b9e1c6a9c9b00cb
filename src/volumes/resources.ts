// resourceFieldRef (downwardAPI volumes and env): a container's requests or limits divided by
// `divisor`, rounded up, as upstream's ExtractContainerResourceValue. A limit the container does
// not set reads as the node's allocatable (upstream MergeContainerResourceLimits); an unset
// request reads as 0. Quantities are parsed here to a number in the base unit (cores, bytes).
import type { Container, Quantity } from '../api/core-v1.js';
import { InvalidVolumeSpecError } from './errors.js';

const SUFFIX: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** A quantity ("500m", "1.5", "64Mi", "1e3") in its base unit. */
export function quantityValue(q: Quantity): number {
  if (typeof q === 'number') return q;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/.exec(q.trim());
  if (!m?.[1]) throw new InvalidVolumeSpecError(`quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': "${q}"`);
  const n = Number(m[1]);
  if (m[2] !== undefined) return n * 10 ** Number(m[2]);
  return n * (SUFFIX[m[3] ?? ''] ?? 1);
}

export interface NodeAllocatable {
  /** Cores. */
  cpu: number;
  /** Bytes. */
  memory: number;
  /** Bytes. */
  ephemeralStorage: number;
}

export interface ResourceFieldSelector {
  containerName?: string;
  resource: string;
  divisor?: Quantity;
}

/** The value a resourceFieldRef reads for `container`, formatted as upstream (an integer string). */
export function resourceFieldValue(container: Container, ref: ResourceFieldSelector, node: NodeAllocatable): string {
  const divisorQ = ref.divisor === undefined ? 0 : quantityValue(ref.divisor);
  const divisor = divisorQ === 0 ? 1 : divisorQ;
  const limits = container.resources?.limits ?? {};
  const requests = container.resources?.requests ?? {};
  const read = (from: Record<string, Quantity>, key: string, fallback: number): number => (from[key] === undefined ? fallback : quantityValue(from[key]));
  // Ceil on integers first, as Quantity.MilliValue()/Value() do, then the division.
  const cpu = (v: number): string => String(Math.ceil(Math.ceil(v * 1000 - 1e-9) / Math.ceil(divisor * 1000 - 1e-9)));
  const bytes = (v: number): string => String(Math.ceil(Math.ceil(v - 1e-9) / Math.ceil(divisor - 1e-9)));
  switch (ref.resource) {
    case 'limits.cpu':
      return cpu(read(limits, 'cpu', node.cpu));
    case 'limits.memory':
      return bytes(read(limits, 'memory', node.memory));
    case 'limits.ephemeral-storage':
      return bytes(read(limits, 'ephemeral-storage', node.ephemeralStorage));
    case 'requests.cpu':
      return cpu(read(requests, 'cpu', 0));
    case 'requests.memory':
      return bytes(read(requests, 'memory', 0));
    case 'requests.ephemeral-storage':
      return bytes(read(requests, 'ephemeral-storage', 0));
    default:
      throw new InvalidVolumeSpecError(`unsupported container resource : ${ref.resource}`);
  }
}
