// A container's environment as upstream's makeEnvironmentVariables builds it: envFrom first
// (configMapRef / secretRef, with prefix; keys that are not valid variable names are skipped
// and reported), then env[] in order: value with $(VAR) expansion over what is defined so far,
// valueFrom configMapKeyRef / secretKeyRef (optional), fieldRef, resourceFieldRef. A later
// definition of a name replaces the earlier value in place. Errors carry upstream's words
// (`couldn't find key KEY in ConfigMap NS/NAME`); the caller makes them a
// CreateContainerConfigError. Objects come through the volume manager's cached reader.
//
// Two halves, because the pod IP is only known once the sandbox exists:
//  - resolveContainerEnv (main thread, does the reads): every entry in spec order, as plain
//    data: final values for envFrom and valueFrom, while `value`s that hold a `$` and the
//    status.podIP / status.podIPs fieldRefs stay deferred;
//  - finalizeEnv (pure, on the pool thread after the sandbox exists): walks the entries in
//    order with the pod IPs and the pod's service env (upstream's mapping reads the container's
//    variables first, then the service variables), and gives the container's final env: the
//    service variables the container does not define, then the container's own.
// expandCommandAndArgs is upstream's ExpandContainerCommandAndArgs over that final env.
import type { Container, Pod } from '../api/core-v1.js';
import { EnvResolveError, ObjectNotFoundError } from './errors.js';
import type { ConfigMapObject, ObjectReader, SecretObject } from './objects.js';
import { resourceFieldValue, type NodeAllocatable, type ResourceFieldSelector } from './resources.js';
import { podMetadataField } from './downward-api.js';

export interface EnvOptions {
  node: NodeAllocatable;
  nodeName?: string;
  hostIP?: string;
}

export interface EnvVar {
  name: string;
  value: string;
}

/**
 * One env definition in spec order, as the main thread resolved it. `expand`: a literal value
 * with a `$` in it (`$(VAR)` or `$$`), expanded in order on the pool thread; `podIP`: status.podIP (first) or
 * status.podIPs (all, comma-joined), known once the sandbox exists.
 */
export type EnvEntry = EnvVar | { name: string; expand: string } | { name: string; podIP: 'first' | 'all' };

export interface ResolvedEnv {
  entries: EnvEntry[];
  /** envFrom keys skipped as invalid names (upstream's InvalidEnvironmentVariableNames event). */
  skipped: { source: string; keys: string[] }[];
}

interface KeyRef {
  name?: string;
  key: string;
  optional?: boolean;
}

interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name?: string; optional?: boolean };
  secretRef?: { name?: string; optional?: boolean };
}

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** Upstream's $(VAR) expansion: `$$` is a literal `$`, unknown references stay as written. */
export function expandEnv(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let checkpoint = 0;
  for (let i = 0; i < input.length; i++) {
    if (input[i] !== '$' || i + 1 >= input.length) continue;
    out += input.slice(checkpoint, i);
    const next = input[i + 1];
    let advance = 1;
    if (next === '$') out += '$';
    else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) out += '$(';
      else {
        const name = input.slice(i + 2, close);
        out += lookup(name) ?? `$(${name})`;
        advance = close - i;
      }
    } else out += `$${next ?? ''}`;
    i += advance;
    checkpoint = i + 1;
  }
  return out + input.slice(checkpoint);
}

/** fieldRef values env can read (upstream podFieldSelectorRuntimeValue). */
function envFieldValue(pod: Pod, fieldPath: string, opts: EnvOptions): string | undefined {
  const common = podMetadataField(pod, fieldPath);
  if (common !== undefined) return common;
  switch (fieldPath) {
    case 'spec.nodeName':
      return pod.spec.nodeName ?? opts.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? '';
    case 'status.hostIP':
      return opts.hostIP ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      // A host-network pod's IP is the node's (upstream's e2e: POD_IP == HOST_IP); the runtime reports none.
      if (pod.spec.hostNetwork) return opts.hostIP ?? '';
      return undefined; // deferred to finalizeEnv: known once the sandbox exists
    default:
      throw new EnvResolveError(`unsupported fieldPath: ${fieldPath}`);
  }
}

export async function resolveContainerEnv(pod: Pod, c: Container, reader: ObjectReader, opts: EnvOptions): Promise<ResolvedEnv> {
  const ns = pod.metadata.namespace ?? 'default';
  const entries: EnvEntry[] = [];
  const skipped: ResolvedEnv['skipped'] = [];
  const found = new Map<string, ConfigMapObject | SecretObject>();
  // A missing object is an error unless the reference is optional (undefined: skip it).
  const configMap = async (name: string, optional: boolean): Promise<ConfigMapObject | undefined> => {
    const key = `configmap/${name}`;
    if (!found.has(key)) {
      const cm = await reader.configMap(ns, name);
      if (!cm) {
        if (optional) return undefined;
        throw new ObjectNotFoundError('configmap', name);
      }
      found.set(key, cm);
    }
    return found.get(key);
  };
  const secret = async (name: string, optional: boolean): Promise<SecretObject | undefined> => {
    const key = `secret/${name}`;
    if (!found.has(key)) {
      const s = await reader.secret(ns, name);
      if (!s) {
        if (optional) return undefined;
        throw new ObjectNotFoundError('secret', name);
      }
      found.set(key, s);
    }
    return found.get(key);
  };

  for (const raw of (c.envFrom ?? []) as EnvFromSource[]) {
    const prefix = raw.prefix ?? '';
    let values: [string, string][] | undefined;
    let label = '';
    if (raw.configMapRef?.name) {
      const cm = await configMap(raw.configMapRef.name, raw.configMapRef.optional === true);
      label = `configMap ${ns}/${raw.configMapRef.name}`;
      if (cm) values = Object.entries(cm.data ?? {});
    } else if (raw.secretRef?.name) {
      const s = await secret(raw.secretRef.name, raw.secretRef.optional === true);
      label = `secret ${ns}/${raw.secretRef.name}`;
      if (s) values = Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]);
    }
    if (!values) continue;
    const invalid: string[] = [];
    for (const [k, v] of values) {
      const name = prefix + k;
      if (!ENV_NAME.test(name)) invalid.push(name);
      else entries.push({ name, value: v });
    }
    if (invalid.length > 0) skipped.push({ source: label, keys: invalid.sort() });
  }

  for (const e of c.env ?? []) {
    const from = e.valueFrom as
      { configMapKeyRef?: KeyRef; secretKeyRef?: KeyRef; fieldRef?: { fieldPath: string }; resourceFieldRef?: ResourceFieldSelector } | undefined;
    let value: string | undefined;
    // Upstream: a non-empty value wins over valueFrom; an empty one with no source is ''.
    if (e.value || !from) {
      const literal = e.value ?? '';
      if (literal.includes('$')) {
        entries.push({ name: e.name, expand: literal });
        continue;
      }
      value = literal;
    } else if (from.configMapKeyRef) {
      const ref = from.configMapKeyRef;
      const optional = ref.optional === true;
      const cm = await configMap(ref.name ?? '', optional);
      if (!cm) continue;
      value = cm.data?.[ref.key];
      if (value === undefined) {
        if (optional) continue;
        throw new EnvResolveError(`couldn't find key ${ref.key} in ConfigMap ${ns}/${ref.name ?? ''}`);
      }
    } else if (from.secretKeyRef) {
      const ref = from.secretKeyRef;
      const optional = ref.optional === true;
      const s = await secret(ref.name ?? '', optional);
      if (!s) continue;
      const b64 = s.data?.[ref.key];
      if (b64 === undefined) {
        if (optional) continue;
        throw new EnvResolveError(`couldn't find key ${ref.key} in Secret ${ns}/${ref.name ?? ''}`);
      }
      value = Buffer.from(b64, 'base64').toString('utf8');
    } else if (from.fieldRef) {
      value = envFieldValue(pod, from.fieldRef.fieldPath, opts);
      if (value === undefined) {
        entries.push({ name: e.name, podIP: from.fieldRef.fieldPath === 'status.podIPs' ? 'all' : 'first' });
        continue;
      }
    } else if (from.resourceFieldRef) {
      const ref = from.resourceFieldRef;
      const target = ref.containerName ? [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((x) => x.name === ref.containerName) : c;
      if (!target) throw new EnvResolveError(`container ${ref.containerName ?? ''} not found in pod for resourceFieldRef of ${e.name}`);
      value = resourceFieldValue(target, ref, opts.node);
    } else {
      continue;
    }
    entries.push({ name: e.name, value });
  }
  return { entries, skipped };
}

/** The entries of a container's literal env (no reads): what a sync without a prepared pod uses. */
export function literalEnvEntries(c: Container): EnvEntry[] {
  return (c.env ?? [])
    .filter((e) => e.valueFrom === undefined || e.value)
    .map((e) => (e.value?.includes('$') ? { name: e.name, expand: e.value } : { name: e.name, value: e.value ?? '' }));
}

/**
 * The container's final env (upstream makeEnvironmentVariables' second half): the entries in
 * order, a later definition replacing an earlier one in place, `$(VAR)` over what is defined so
 * far and then the service variables; the service variables the container does not define come
 * first in the list, the container's own after them.
 */
export function finalizeEnv(entries: readonly EnvEntry[], serviceEnv: Readonly<Record<string, string>>, podIPs: readonly string[]): EnvVar[] {
  const env = new Map<string, string>();
  const lookup = (n: string): string | undefined => env.get(n) ?? (Object.hasOwn(serviceEnv, n) ? serviceEnv[n] : undefined);
  for (const e of entries) {
    if ('expand' in e) env.set(e.name, expandEnv(e.expand, lookup));
    else if ('podIP' in e) env.set(e.name, e.podIP === 'first' ? (podIPs[0] ?? '') : podIPs.join(','));
    else env.set(e.name, e.value);
  }
  const out: EnvVar[] = [];
  for (const [name, value] of Object.entries(serviceEnv)) if (!env.has(name)) out.push({ name, value });
  for (const [name, value] of env) out.push({ name, value });
  return out;
}

/** Upstream ExpandContainerCommandAndArgs: `$(VAR)` in command and args over the final env. */
export function expandCommandAndArgs(c: Container, env: readonly EnvVar[]): { command: string[]; args: string[] } {
  const map = new Map(env.map((e) => [e.name, e.value]));
  const lookup = (n: string): string | undefined => map.get(n);
  return { command: (c.command ?? []).map((x) => expandEnv(x, lookup)), args: (c.args ?? []).map((x) => expandEnv(x, lookup)) };
}
