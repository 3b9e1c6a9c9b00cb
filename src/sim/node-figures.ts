// The simulated node's resource figures: memory, the node and image filesystems (bytes and
// inodes) and PIDs, plus per-pod usage overrides, all settable while a kubelet runs (tests, the
// bench, chaos campaigns: pressure on demand at 1000 pods, with no real memory or disk used).
//
// The figures set are the node's with no pod running; what the running containers use (their
// working sets, writable layers, one PID each) and the images it holds are taken off them, so evicting a pod relieves the
// pressure it caused, as on a real node. The kubelet reads the result where it would read the
// host: a kubelet on the sim takes the node's signals from the runtime's verbose Status
// (`info["kubelet-ts.sim/node"]`, JSON of NodeFigures), since a simulated node's memory is the
// simulation's, not the machine's. Per-pod overrides replace the derived ContainerStats figures
// of every container of that pod.

export interface FsFigures {
  capacityBytes: number;
  availableBytes: number;
  inodes: number;
  inodesFree: number;
}

export interface NodeFigures {
  memory: { capacityBytes: number; availableBytes: number };
  nodefs: FsFigures;
  imagefs: FsFigures;
  pids: { max: number; running: number };
}

/** Per container of a pod: figures that replace the derived ones. */
export interface PodUsageOverride {
  workingSetBytes?: number;
  writableLayerBytes?: number;
  writableLayerInodes?: number;
}

/** The verbose Status info key that carries the node figures. */
export const SIM_NODE_INFO_KEY = 'kubelet-ts.sim/node';

const Gi = 2 ** 30;

/** A roomy node: nothing is under pressure until a test says so, even at thousands of pods. */
export function defaultNodeFigures(): NodeFigures {
  return {
    memory: { capacityBytes: 512 * Gi, availableBytes: 500 * Gi },
    nodefs: { capacityBytes: 4096 * Gi, availableBytes: 4000 * Gi, inodes: 256_000_000, inodesFree: 250_000_000 },
    imagefs: { capacityBytes: 4096 * Gi, availableBytes: 4000 * Gi, inodes: 256_000_000, inodesFree: 250_000_000 },
    pids: { max: 4_194_304, running: 1000 },
  };
}

/** What the running containers use, taken off the figures (never below zero). */
export interface RunningUsage {
  workingSetBytes: number;
  writableLayerBytes: number;
  writableLayerInodes: number;
  containers: number;
  /** The images the runtime holds (on the image filesystem). */
  imageBytes: number;
}

export function effectiveNodeFigures(base: NodeFigures, used: RunningUsage): NodeFigures {
  const out = structuredClone(base);
  out.memory.availableBytes = Math.max(0, base.memory.availableBytes - used.workingSetBytes);
  for (const fs of [out.nodefs, out.imagefs]) {
    fs.availableBytes = Math.max(0, fs.availableBytes - used.writableLayerBytes);
    fs.inodesFree = Math.max(0, fs.inodesFree - used.writableLayerInodes);
  }
  // Images live on the image filesystem, which is the node's when the figures do not tell them apart.
  const oneFs = JSON.stringify(base.nodefs) === JSON.stringify(base.imagefs);
  out.imagefs.availableBytes = Math.max(0, out.imagefs.availableBytes - used.imageBytes);
  if (oneFs) out.nodefs.availableBytes = Math.max(0, out.nodefs.availableBytes - used.imageBytes);
  out.pids.running = base.pids.running + used.containers;
  return out;
}

const FS_FIELDS = ['capacityBytes', 'availableBytes', 'inodes', 'inodesFree'] as const;
const SHAPE: Record<keyof NodeFigures, readonly string[]> = {
  memory: ['capacityBytes', 'availableBytes'],
  nodefs: FS_FIELDS,
  imagefs: FS_FIELDS,
  pids: ['max', 'running'],
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * `current` with the parts of `patch` applied (any subset of sections and fields). Throws a
 * message naming the field on anything else: an unknown name, a negative or non-integer number.
 */
export function patchNodeFigures(current: NodeFigures, patch: unknown): NodeFigures {
  if (!isRecord(patch)) throw new Error('node figures: expected an object');
  const out = structuredClone(current);
  for (const [section, fields] of Object.entries(patch)) {
    const allowed = (SHAPE as Record<string, readonly string[] | undefined>)[section];
    if (!allowed) throw new Error(`node figures: unknown section "${section}" (known: ${Object.keys(SHAPE).join(', ')})`);
    if (!isRecord(fields)) throw new Error(`node figures: ${section} must be an object`);
    for (const [field, v] of Object.entries(fields)) {
      if (!allowed.includes(field)) throw new Error(`node figures: unknown field ${section}.${field} (known: ${allowed.join(', ')})`);
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`node figures: ${section}.${field} must be a whole number >= 0`);
      (out[section as keyof NodeFigures] as unknown as Record<string, number>)[field] = v;
    }
  }
  return out;
}

/** A usage override from its JSON form, or a message naming the bad field. */
export function parsePodUsageOverride(v: unknown, what: string): PodUsageOverride {
  if (!isRecord(v)) throw new Error(`${what}: expected an object`);
  const out: PodUsageOverride = {};
  for (const [k, x] of Object.entries(v)) {
    if (k !== 'workingSetBytes' && k !== 'writableLayerBytes' && k !== 'writableLayerInodes')
      throw new Error(`${what}: unknown field ${k} (known: workingSetBytes, writableLayerBytes, writableLayerInodes)`);
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw new Error(`${what}.${k} must be a whole number >= 0`);
    out[k] = x;
  }
  return out;
}
