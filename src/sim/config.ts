// The sim-runtime config file (YAML or JSON), checked field by field so a typo is an error that
// names the field, not a silently ignored setting:
//
//   seed: 42
//   podCidr: 10.88.0.0/16
//   images: [docker.io/library/busybox:1.35, {name: registry.k8s.io/pause:3.9, sizeBytes: 321520}]
//   pull: {latencyMs: 200, failures: [{pattern: "*.invalid/*", code: NOT_FOUND}]}
//   latency: {"*": {fixedMs: 1, jitterMs: 2}, CreateContainer: {fixedMs: 20}}
//   faults: {StartContainer: {errorRate: 0.1, code: UNAVAILABLE}}
//   runtimeHandlers: [runc]
//   imageFsMountpoint: /var/lib/kubelet-ts-sim/io.containerd.snapshotter.v1.overlayfs
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { ImageSpecOption, PullFailureRule } from './images.js';
import { GRPC_CODE_NAMES, RuleTable, validateFault, validateLatency, type FaultSpec, type LatencySpec } from './faults.js';
import { IpPool } from './ipam.js';
import type { SimRuntimeOptions } from './runtime.js';

const TOP = ['seed', 'podCidr', 'images', 'pull', 'latency', 'faults', 'runtimeHandlers', 'imageFsMountpoint'] as const;

function fail(where: string, msg: string): never {
  throw new Error(`${where}: ${msg}`);
}

function obj(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(where, `expected a mapping, got ${JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

function str(v: unknown, where: string): string {
  if (typeof v !== 'string' || v === '') fail(where, `expected a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function known(o: Record<string, unknown>, keys: readonly string[], where: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail(where, `unknown field "${k}" (known: ${keys.join(', ')})`);
}

/** Checks a parsed config object; `source` names the file in messages. */
export function validateSimConfig(raw: unknown, source = 'sim config'): SimRuntimeOptions {
  if (raw === null || raw === undefined) return {};
  const o = obj(raw, source);
  known(o, TOP, source);
  const opts: SimRuntimeOptions = {};
  if (o['seed'] !== undefined) {
    if (typeof o['seed'] !== 'number' || !Number.isInteger(o['seed'])) fail(`${source}: seed`, 'expected an integer');
    opts.seed = o['seed'];
  }
  if (o['podCidr'] !== undefined) {
    const cidr = str(o['podCidr'], `${source}: podCidr`);
    try {
      new IpPool(cidr);
    } catch (err) {
      fail(`${source}: podCidr`, err instanceof Error ? err.message : String(err));
    }
    opts.podCidr = cidr;
  }
  if (o['images'] !== undefined) {
    if (!Array.isArray(o['images'])) fail(`${source}: images`, 'expected a list of image names or {name, sizeBytes}');
    opts.images = o['images'].map((v: unknown, i): ImageSpecOption => {
      const where = `${source}: images[${i}]`;
      if (typeof v === 'string') return { name: str(v, where) };
      const m = obj(v, where);
      known(m, ['name', 'sizeBytes'], where);
      const img: ImageSpecOption = { name: str(m['name'], `${where}.name`) };
      if (m['sizeBytes'] !== undefined) {
        if (typeof m['sizeBytes'] !== 'number' || !(m['sizeBytes'] > 0)) fail(`${where}.sizeBytes`, 'expected a number > 0');
        img.sizeBytes = m['sizeBytes'];
      }
      return img;
    });
  }
  if (o['pull'] !== undefined) {
    const p = obj(o['pull'], `${source}: pull`);
    known(p, ['latencyMs', 'failures'], `${source}: pull`);
    const pull: NonNullable<SimRuntimeOptions['pull']> = {};
    if (p['latencyMs'] !== undefined) {
      if (typeof p['latencyMs'] !== 'number' || !(p['latencyMs'] >= 0)) fail(`${source}: pull.latencyMs`, 'expected milliseconds >= 0');
      pull.latencyMs = p['latencyMs'];
    }
    if (p['failures'] !== undefined) {
      if (!Array.isArray(p['failures'])) fail(`${source}: pull.failures`, 'expected a list of {pattern, code, message}');
      pull.failures = p['failures'].map((v: unknown, i): PullFailureRule => validatePullFailure(v, `${source}: pull.failures[${i}]`));
    }
    opts.pull = pull;
  }
  for (const key of ['latency', 'faults'] as const) {
    if (o[key] === undefined) continue;
    // The rule tables check RPC names and fields; build throwaway ones to validate.
    const table =
      key === 'latency' ? new RuleTable<LatencySpec>(`${source}: latency`, validateLatency) : new RuleTable<FaultSpec>(`${source}: faults`, validateFault);
    table.replace(obj(o[key], `${source}: ${key}`));
    if (key === 'latency') opts.latency = table.toJSON() as Record<string, LatencySpec>;
    else opts.faults = table.toJSON() as Record<string, FaultSpec>;
  }
  if (o['runtimeHandlers'] !== undefined) {
    if (!Array.isArray(o['runtimeHandlers'])) fail(`${source}: runtimeHandlers`, 'expected a list of names');
    opts.runtimeHandlers = o['runtimeHandlers'].map((v: unknown, i) => str(v, `${source}: runtimeHandlers[${i}]`));
  }
  if (o['imageFsMountpoint'] !== undefined) opts.imageFsMountpoint = str(o['imageFsMountpoint'], `${source}: imageFsMountpoint`);
  return opts;
}

export function validatePullFailure(v: unknown, where: string): PullFailureRule {
  const m = obj(v, where);
  known(m, ['pattern', 'code', 'message'], where);
  const rule: PullFailureRule = { pattern: str(m['pattern'], `${where}.pattern`) };
  if (m['code'] !== undefined) {
    const code = str(m['code'], `${where}.code`);
    if (!GRPC_CODE_NAMES.includes(code as never) || code === 'OK') fail(`${where}.code`, `"${code}" is not a gRPC error code`);
    rule.code = code;
  }
  if (m['message'] !== undefined) rule.message = str(m['message'], `${where}.message`);
  return rule;
}

/** Reads and checks a config file (.json, or YAML for anything else). */
export function loadSimConfig(path: string): SimRuntimeOptions {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read sim config ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new Error(`sim config ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  return validateSimConfig(raw, path);
}
