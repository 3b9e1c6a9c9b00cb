// Per-RPC latency and fault injection for the simulated runtime, switchable at run time:
//   sim.latency.set('*', { fixedMs: 2, jitterMs: 3 })
//   sim.faults.set('CreateContainer', { errorRate: 0.5, code: 'UNAVAILABLE' })
//   sim.faults.set('ContainerStatus', { hang: true })   // never answers: the client's deadline ends it
//   sim.faults.set('ListContainers', { slowMs: 800 })
//   sim.faults.clear()
// A rule for one RPC wins over the '*' rule. Randomness comes from one seeded generator, so a
// chaos run with the same seed and the same call order injects the same faults.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { ALL_RPCS, type RpcName } from '../native/cri/api.js';

export type GrpcCodeName = Exclude<keyof typeof GrpcStatus, number>;

export const GRPC_CODE_NAMES = Object.keys(GrpcStatus).filter((k) => Number.isNaN(Number(k))) as GrpcCodeName[];

export interface FaultSpec {
  /** Probability (0..1) that a call fails with `code`. */
  errorRate?: number;
  /** gRPC status name for injected errors (default UNAVAILABLE). */
  code?: GrpcCodeName;
  /** Error text (default: "sim: injected <CODE> for <RPC>"). */
  message?: string;
  /** Every call hangs: no answer until the caller's deadline (or the runtime closes). */
  hang?: boolean;
  /** Probability (0..1) that a call hangs. */
  hangRate?: number;
  /** Extra latency added to every call, in milliseconds. */
  slowMs?: number;
  /** The rule applies to this many more calls, then removes itself ("fail the next 2"). */
  times?: number;
}

export interface LatencySpec {
  fixedMs: number;
  /** Uniform extra delay in [0, jitterMs). */
  jitterMs?: number;
}

export type RpcKey = RpcName | '*';

export { seededRandom } from '../util/seeded-random.js';

function checkRpc(rpc: string, where: string): RpcKey {
  if (rpc === '*' || (ALL_RPCS as readonly string[]).includes(rpc)) return rpc as RpcKey;
  throw new Error(`${where}: unknown RPC ${JSON.stringify(rpc)}; use '*' or one of ${ALL_RPCS.join(', ')}`);
}

function rate(v: unknown, where: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`${where}: must be a number from 0 to 1, got ${JSON.stringify(v)}`);
  return v;
}

function ms(v: unknown, where: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${where}: must be a number of milliseconds >= 0, got ${JSON.stringify(v)}`);
  return v;
}

function plainObject(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${where}: must be an object, got ${JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, keys: readonly string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) throw new Error(`${where}: unknown field ${JSON.stringify(k)} (known: ${keys.join(', ')})`);
  }
}

/** Checks a fault rule from config, the control API or code; throws naming the bad field. */
export function validateFault(v: unknown, where: string): FaultSpec {
  const o = plainObject(v, where);
  onlyKeys(o, ['errorRate', 'code', 'message', 'hang', 'hangRate', 'slowMs', 'times'], where);
  const spec: FaultSpec = {};
  const errorRate = rate(o['errorRate'], `${where}.errorRate`);
  if (errorRate !== undefined) spec.errorRate = errorRate;
  const hangRate = rate(o['hangRate'], `${where}.hangRate`);
  if (hangRate !== undefined) spec.hangRate = hangRate;
  const slowMs = ms(o['slowMs'], `${where}.slowMs`);
  if (slowMs !== undefined) spec.slowMs = slowMs;
  if (o['times'] !== undefined) {
    const times = o['times'];
    if (typeof times !== 'number' || !Number.isInteger(times) || times < 1)
      throw new Error(`${where}.times: must be an integer >= 1, got ${JSON.stringify(times)}`);
    spec.times = times;
  }
  if (o['hang'] !== undefined) {
    if (typeof o['hang'] !== 'boolean') throw new Error(`${where}.hang: must be true or false`);
    spec.hang = o['hang'];
  }
  if (o['code'] !== undefined) {
    const code = o['code'];
    if (typeof code !== 'string' || !GRPC_CODE_NAMES.includes(code as GrpcCodeName) || code === 'OK') {
      throw new Error(`${where}.code: ${JSON.stringify(code)} is not a gRPC error code; use one of ${GRPC_CODE_NAMES.filter((c) => c !== 'OK').join(', ')}`);
    }
    spec.code = code as GrpcCodeName;
  }
  if (o['message'] !== undefined) {
    if (typeof o['message'] !== 'string') throw new Error(`${where}.message: must be a string`);
    spec.message = o['message'];
  }
  return spec;
}

export function validateLatency(v: unknown, where: string): LatencySpec {
  const o = plainObject(v, where);
  onlyKeys(o, ['fixedMs', 'jitterMs'], where);
  const spec: LatencySpec = { fixedMs: ms(o['fixedMs'], `${where}.fixedMs`) ?? 0 };
  const jitterMs = ms(o['jitterMs'], `${where}.jitterMs`);
  if (jitterMs !== undefined) spec.jitterMs = jitterMs;
  return spec;
}

/** A table of rules by RPC name ('*' for all), checked on the way in. */
export class RuleTable<T> {
  private readonly rules = new Map<RpcKey, T>();

  constructor(
    private readonly what: string,
    private readonly validate: (v: unknown, where: string) => T,
    private readonly onChange: () => void = () => undefined,
  ) {}

  set(rpc: RpcKey, spec: T): void {
    const key = checkRpc(rpc, this.what);
    this.rules.set(key, this.validate(spec, `${this.what}.${key}`));
    this.onChange();
  }

  /** Replaces every rule at once (what the control API's PUT does). */
  replace(all: Record<string, unknown>): void {
    const next = new Map<RpcKey, T>();
    for (const [rpc, spec] of Object.entries(plainObject(all, this.what))) {
      const key = checkRpc(rpc, this.what);
      next.set(key, this.validate(spec, `${this.what}.${key}`));
    }
    this.rules.clear();
    for (const [k, v] of next) this.rules.set(k, v);
    this.onChange();
  }

  delete(rpc: RpcKey): void {
    this.rules.delete(rpc);
    this.onChange();
  }

  clear(): void {
    this.rules.clear();
    this.onChange();
  }

  /** The rule for this RPC, or the '*' rule. */
  get(rpc: RpcName): T | undefined {
    return this.rules.get(rpc) ?? this.rules.get('*');
  }

  /**
   * The rule for this RPC, counting one use of it: a rule with `times` is spent after that
   * many calls and removed.
   */
  take(rpc: RpcName): T | undefined {
    const key: RpcKey = this.rules.has(rpc) ? rpc : '*';
    const rule = this.rules.get(key);
    const times = (rule as { times?: number } | undefined)?.times;
    if (rule !== undefined && times !== undefined) {
      if (times <= 1) this.delete(key);
      else this.rules.set(key, { ...rule, times: times - 1 });
    }
    return rule;
  }

  get size(): number {
    return this.rules.size;
  }

  toJSON(): Record<string, T> {
    return Object.fromEntries(this.rules);
  }
}
