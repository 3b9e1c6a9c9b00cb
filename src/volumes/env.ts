// A container's environment as upstream's makeEnvironmentVariables builds it: envFrom first
// (configMapRef / secretRef, with prefix; keys that are not valid variable names are skipped
// and reported), then env[] in order: value with $(VAR) expansion over what is defined so far,
// valueFrom configMapKeyRef / secretKeyRef (optional), fieldRef, resourceFieldRef. A later
// definition of a name replaces the earlier value in place. Errors carry upstream's words
// (`couldn't find key KEY in ConfigMap NS/NAME`); the caller makes them a
// CreateContainerConfigError. Objects come through the volume manager's cached reader.
//
// Not resolved here: status.podIP / status.podIPs before the sandbox exists (pass `podIPs` when
// known), service links (enableServiceLinks), $(VAR) in command and args.
import type { Container, Pod } from '../api/core-v1.js';
import { EnvResolveError, ObjectNotFoundError } from './errors.js';
import type { ConfigMapObject, ObjectReader, SecretObject } from './objects.js';
import { resourceFieldValue, type NodeAllocatable, type ResourceFieldSelector } from './resources.js';
import { podMetadataField } from './downward-api.js';

export interface EnvOptions {
  node: NodeAllocatable;
  nodeName?: string;
  hostIP?: string;
  podIPs?: readonly string[];
}

export interface ResolvedEnv {
  env: { name: string; value: string }[];
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
      return opts.podIPs?.[0];
    case 'status.podIPs':
      return opts.podIPs ? opts.podIPs.join(',') : undefined;
    default:
      throw new EnvResolveError(`unsupported fieldPath: ${fieldPath}`);
  }
}

export async function resolveContainerEnv(pod: Pod, c: Container, reader: ObjectReader, opts: EnvOptions): Promise<ResolvedEnv> {
  const ns = pod.metadata.namespace ?? 'default';
  const env = new Map<string, string>();
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
      else env.set(name, v);
    }
    if (invalid.length > 0) skipped.push({ source: label, keys: invalid.sort() });
  }

  for (const e of c.env ?? []) {
    const from = e.valueFrom as
      | { configMapKeyRef?: KeyRef; secretKeyRef?: KeyRef; fieldRef?: { fieldPath: string }; resourceFieldRef?: ResourceFieldSelector }
      | undefined;
    let value: string | undefined;
    if (!from) {
      value = expandEnv(e.value ?? '', (n) => env.get(n));
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
      if (value === undefined) continue; // status.podIP before the sandbox exists
    } else if (from.resourceFieldRef) {
      const ref = from.resourceFieldRef;
      const target = ref.containerName ? [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((x) => x.name === ref.containerName) : c;
      if (!target) throw new EnvResolveError(`container ${ref.containerName ?? ''} not found in pod for resourceFieldRef of ${e.name}`);
      value = resourceFieldValue(target, ref, opts.node);
    } else {
      continue;
    }
    env.set(e.name, value);
  }
  return { env: [...env].map(([name, value]) => ({ name, value })), skipped };
}
