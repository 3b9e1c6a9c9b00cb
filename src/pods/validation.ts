// Pod validation as the API server would do it for what the node relies on: names, containers,
// ports, probes, volumes and mounts, restart policy. Each problem is reported as
// `field.path: message`, like upstream's field errors, so a user sees exactly what to fix.
// Static pods never pass through an API server, so this is their only gate.
import type { Container, Pod, Probe, Volume, VolumeMount } from '../api/core-v1.js';
import { parseQuantity } from '../api/quantity.js';
import { componentProblem } from '../util/safe-path.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$/;

/** A list field: the list, or none (with an error) when it is there but is not a list. */
function listField<T>(v: T[] | undefined, path: string, errs: string[]): T[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    errs.push(`${path}: must be a list`);
    return [];
  }
  return v;
}

export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

export function isDns1123Subdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

function validatePort(port: unknown, path: string, errs: string[], namedPorts?: Set<string>): void {
  if (typeof port === 'number') {
    if (!Number.isInteger(port) || port < 1 || port > 65535) errs.push(`${path}: must be between 1 and 65535, got ${port}`);
  } else if (typeof port === 'string') {
    if (!IANA_SVC_NAME.test(port) || port.length > 15 || !/[a-z]/.test(port)) errs.push(`${path}: "${port}" is not a valid port name`);
    else if (namedPorts && !namedPorts.has(port)) errs.push(`${path}: no container port named "${port}"`);
  } else {
    errs.push(`${path}: required`);
  }
}

function validateProbe(probe: Probe | undefined, path: string, errs: string[], namedPorts: Set<string>): void {
  if (probe === undefined) return;
  if (typeof probe !== 'object' || probe === null) {
    errs.push(`${path}: must be an object`);
    return;
  }
  const handlers = (['exec', 'httpGet', 'tcpSocket', 'grpc'] as const).filter((h) => probe[h] !== undefined);
  if (handlers.length !== 1) errs.push(`${path}: must specify exactly one handler (exec, httpGet, tcpSocket, grpc), got ${handlers.length}`);
  if (probe.exec && (!Array.isArray(probe.exec.command) || probe.exec.command.length === 0)) errs.push(`${path}.exec.command: required`);
  if (probe.httpGet) validatePort(probe.httpGet.port, `${path}.httpGet.port`, errs, namedPorts);
  if (probe.tcpSocket) validatePort(probe.tcpSocket.port, `${path}.tcpSocket.port`, errs, namedPorts);
  if (probe.grpc) validatePort(probe.grpc.port, `${path}.grpc.port`, errs);
  for (const k of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold'] as const) {
    const v = probe[k];
    if (v === undefined) continue;
    const min = k === 'initialDelaySeconds' ? 0 : 1;
    if (!Number.isInteger(v) || v < min) errs.push(`${path}.${k}: must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  }
}

function validateContainer(c: Container, path: string, volumes: Set<string>, errs: string[], isInit: boolean): void {
  if (typeof c !== 'object' || c === null) {
    errs.push(`${path}: must be an object`);
    return;
  }
  if (typeof c.name !== 'string' || c.name === '') errs.push(`${path}.name: required`);
  else if (!isDns1123Label(c.name)) errs.push(`${path}.name: "${c.name}" must be a DNS-1123 label (lower-case alphanumerics and '-', at most 63)`);
  if (typeof c.image !== 'string' || c.image.trim() === '') errs.push(`${path}.image: required`);
  for (const k of ['command', 'args'] as const) {
    const v = c[k];
    if (v !== undefined && (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))) errs.push(`${path}.${k}: must be a list of strings`);
  }
  const namedPorts = new Set<string>();
  listField(c.ports, `${path}.ports`, errs).forEach((p, i) => {
    validatePort(p?.containerPort, `${path}.ports[${i}].containerPort`, errs);
    if (p?.hostPort !== undefined) validatePort(p.hostPort, `${path}.ports[${i}].hostPort`, errs);
    if (p?.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(p.protocol)) errs.push(`${path}.ports[${i}].protocol: must be TCP, UDP or SCTP`);
    if (p?.name !== undefined) {
      if (namedPorts.has(p.name)) errs.push(`${path}.ports[${i}].name: duplicate port name "${p.name}"`);
      namedPorts.add(p.name);
    }
  });
  listField(c.env, `${path}.env`, errs).forEach((e, i) => {
    if (typeof e?.name !== 'string' || e.name === '') errs.push(`${path}.env[${i}].name: required`);
    if (e?.value !== undefined && e.valueFrom !== undefined) errs.push(`${path}.env[${i}]: value and valueFrom are exclusive`);
  });
  validateResources(c, path, errs);
  const mountPaths = new Set<string>();
  listField(c.volumeMounts, `${path}.volumeMounts`, errs).forEach((m, i) => {
    if (!volumes.has(m?.name)) errs.push(`${path}.volumeMounts[${i}].name: volume "${m?.name}" not found`);
    if (typeof m?.mountPath !== 'string' || m.mountPath === '') errs.push(`${path}.volumeMounts[${i}].mountPath: required`);
    else if (mountPaths.has(m.mountPath)) errs.push(`${path}.volumeMounts[${i}].mountPath: "${m.mountPath}" is mounted twice`);
    else mountPaths.add(m.mountPath);
    if (m) validateMountSubPath(m, `${path}.volumeMounts[${i}]`, errs);
  });
  if (c.imagePullPolicy !== undefined && !['Always', 'IfNotPresent', 'Never'].includes(c.imagePullPolicy)) {
    errs.push(`${path}.imagePullPolicy: must be Always, IfNotPresent or Never`);
  }
  if (c.restartPolicy !== undefined && (!isInit || c.restartPolicy !== 'Always')) {
    errs.push(`${path}.restartPolicy: only init containers may set it, and only to Always`);
  }
  const sidecar = isInit && c.restartPolicy === 'Always';
  if (isInit && !sidecar) {
    for (const p of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
      if (c[p] !== undefined) errs.push(`${path}.${p}: not allowed on init containers`);
    }
  }
  validateProbe(c.livenessProbe, `${path}.livenessProbe`, errs, namedPorts);
  validateProbe(c.readinessProbe, `${path}.readinessProbe`, errs, namedPorts);
  validateProbe(c.startupProbe, `${path}.startupProbe`, errs, namedPorts);
  if (c.livenessProbe?.successThreshold !== undefined && c.livenessProbe.successThreshold !== 1) {
    errs.push(`${path}.livenessProbe.successThreshold: must be 1`);
  }
}

/** Problems with a (defaulted) pod, as `field.path: message`; empty when valid. */
export function validatePod(pod: Pod): string[] {
  const errs: string[] = [];
  const meta = pod.metadata;
  if (typeof meta?.name !== 'string' || meta.name === '') errs.push('metadata.name: required');
  else if (!isDns1123Subdomain(meta.name))
    errs.push(`metadata.name: "${meta.name}" must be a DNS-1123 subdomain (lower-case alphanumerics, '-' and '.', at most 253)`);
  if (meta?.namespace !== undefined && !isDns1123Label(meta.namespace)) errs.push(`metadata.namespace: "${meta.namespace}" must be a DNS-1123 label`);
  for (const k of ['labels', 'annotations'] as const) {
    const m = meta?.[k];
    if (m === undefined) continue;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) errs.push(`metadata.${k}: must be a map of strings`);
    else for (const [key, v] of Object.entries(m)) if (typeof v !== 'string') errs.push(`metadata.${k}.${key}: value must be a string`);
  }
  validateLabelsAndAnnotations(meta, errs);
  const spec = pod.spec;
  if (typeof spec !== 'object' || spec === null) {
    errs.push('spec: required');
    return errs;
  }
  const volumes = new Set<string>();
  (Array.isArray(spec.volumes) ? spec.volumes : []).forEach((v, i) => {
    if (typeof v?.name !== 'string' || !isDns1123Label(v.name)) errs.push(`spec.volumes[${i}].name: must be a DNS-1123 label`);
    else if (volumes.has(v.name)) errs.push(`spec.volumes[${i}].name: duplicate volume "${v.name}"`);
    else volumes.add(v.name);
  });
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) errs.push('spec.containers: at least one container is required');
  if (spec.initContainers !== undefined && !Array.isArray(spec.initContainers)) errs.push('spec.initContainers: must be a list');
  const names = new Set<string>();
  const check = (list: Container[] | undefined, field: string, isInit: boolean): void => {
    (Array.isArray(list) ? list : []).forEach((c, i) => {
      validateContainer(c, `spec.${field}[${i}]`, volumes, errs, isInit);
      if (typeof c?.name === 'string') {
        if (names.has(c.name)) errs.push(`spec.${field}[${i}].name: duplicate container name "${c.name}"`);
        names.add(c.name);
      }
    });
  };
  check(spec.initContainers, 'initContainers', true);
  check(spec.containers, 'containers', false);
  if (spec.restartPolicy !== undefined && !['Always', 'OnFailure', 'Never'].includes(spec.restartPolicy)) {
    errs.push(`spec.restartPolicy: must be Always, OnFailure or Never, got "${String(spec.restartPolicy)}"`);
  }
  const grace = spec.terminationGracePeriodSeconds;
  if (grace !== undefined && (!Number.isInteger(grace) || grace < 0)) errs.push('spec.terminationGracePeriodSeconds: must be an integer >= 0');
  const deadline = spec.activeDeadlineSeconds;
  if (deadline !== undefined && (!Number.isInteger(deadline) || deadline < 1)) errs.push('spec.activeDeadlineSeconds: must be an integer >= 1');
  if (spec.hostname !== undefined && !isDns1123Label(spec.hostname)) errs.push('spec.hostname: must be a DNS-1123 label');
  validatePodUid(meta?.uid, errs);
  validateVolumeItemPaths(spec.volumes, errs);
  validateSeccompProfilePaths(spec, errs);
  return errs;
}

// ---- Fields that become host paths (issue 16): the UID names the pod's folders, subPaths and
// items[].path name places inside volumes. Messages in upstream's field-error form.

const POD_UID = /^[A-Za-z0-9_.-]{1,128}$/;

function invalid(path: string, value: unknown, why: string): string {
  return `${path}: Invalid value: ${JSON.stringify(value)}: ${why}`;
}

/**
 * A UID written in a static pod's manifest names `<root-dir>/pods/<uid>`, its log folder and its
 * cgroup: it must be one plain path component. Upstream UIDs (UUIDs, md5 hex) all are.
 */
function validatePodUid(uid: unknown, errs: string[]): void {
  if (uid === undefined || uid === '') return;
  if (typeof uid !== 'string' || !POD_UID.test(uid) || uid === '.' || uid === '..') {
    errs.push(invalid('metadata.uid', uid, "must consist of alphanumeric characters, '-', '_' or '.' (at most 128), and must not be '.' or '..'"));
  }
}

/** Upstream validateLocalDescendingPath, plus NUL (which no path may hold). */
function localDescendingPathProblems(p: string): string[] {
  const out: string[] = [];
  if (p.startsWith('/')) out.push('must be a relative path');
  if (p.split('/').includes('..')) out.push("must not contain '..'");
  if (p.includes('\0')) out.push('must not contain NUL');
  return out;
}

function validateMountSubPath(m: VolumeMount, path: string, errs: string[]): void {
  for (const k of ['subPath', 'subPathExpr'] as const) {
    const v: unknown = m[k];
    if (v === undefined || v === '') continue;
    if (typeof v !== 'string') {
      errs.push(invalid(`${path}.${k}`, v, 'must be a string'));
      continue;
    }
    for (const why of localDescendingPathProblems(v)) errs.push(invalid(`${path}.${k}`, v, why));
  }
  if (m.subPath && m.subPathExpr) errs.push(invalid(`${path}.subPathExpr`, m.subPathExpr, 'subPathExpr and subPath are mutually exclusive'));
}

/** Upstream validateLocalNonReservedPath: a file path inside an atomic-writer volume. */
function validateItemPath(p: unknown, path: string, errs: string[]): void {
  if (p === undefined || p === '') {
    errs.push(`${path}: Required value`);
    return;
  }
  if (typeof p !== 'string') {
    errs.push(invalid(path, p, 'must be a string'));
    return;
  }
  for (const why of localDescendingPathProblems(p)) errs.push(invalid(path, p, why));
  if (p.startsWith('..')) errs.push(invalid(path, p, "must not start with '..'"));
}

function validateItems(items: unknown, path: string, errs: string[]): void {
  if (items === undefined) return;
  if (!Array.isArray(items)) {
    errs.push(`${path}: must be a list`);
    return;
  }
  items.forEach((item: unknown, i) => validateItemPath((item as { path?: unknown } | null)?.path, `${path}[${i}].path`, errs));
}

/** items[].path of configMap, secret, downwardAPI and projected volumes (and a projected token's path). */
function validateVolumeItemPaths(volumes: Volume[] | undefined, errs: string[]): void {
  (Array.isArray(volumes) ? volumes : []).forEach((v, i) => {
    const at = `spec.volumes[${i}]`;
    for (const kind of ['configMap', 'secret', 'downwardAPI'] as const) {
      const src = v?.[kind] as { items?: unknown } | undefined;
      if (src && typeof src === 'object') validateItems(src.items, `${at}.${kind}.items`, errs);
    }
    const sources = (v?.['projected'] as { sources?: unknown } | undefined)?.sources;
    if (!Array.isArray(sources)) return;
    sources.forEach((s: unknown, j) => {
      const src = (s ?? {}) as Record<string, { items?: unknown; path?: unknown } | undefined>;
      for (const kind of ['configMap', 'secret', 'downwardAPI'] as const) {
        const one = src[kind];
        if (one && typeof one === 'object') validateItems(one.items, `${at}.projected.sources[${j}].${kind}.items`, errs);
      }
      const token = src['serviceAccountToken'];
      if (token && typeof token === 'object') validateItemPath(token.path, `${at}.projected.sources[${j}].serviceAccountToken.path`, errs);
    });
  });
}

/** seccompProfile.localhostProfile (pod and containers): a file below the node's seccomp folder. */
function validateSeccompProfilePaths(spec: Pod['spec'], errs: string[]): void {
  const check = (sc: unknown, path: string): void => {
    const p = (sc as { seccompProfile?: { localhostProfile?: unknown } } | undefined)?.seccompProfile?.localhostProfile;
    if (typeof p === 'string' && p !== '')
      for (const why of localDescendingPathProblems(p)) errs.push(invalid(`${path}.seccompProfile.localhostProfile`, p, why));
  };
  check(spec.securityContext, 'spec.securityContext');
  for (const field of ['initContainers', 'containers'] as const) {
    const list = spec[field];
    (Array.isArray(list) ? list : []).forEach((c: Container, i) => check(c?.securityContext, `spec.${field}[${i}].securityContext`));
  }
}

/**
 * The node's own gate for a pod from any source, the API server's included (whose word the node
 * does not take for what is safe on its disk): every field that becomes one component of a host
 * path must be one. Empty when the pod is safe to give folders to.
 */
export function validatePodPathFields(pod: Pod): string[] {
  const errs: string[] = [];
  const check = (path: string, value: unknown): void => {
    const why = componentProblem(value);
    if (why !== undefined) errs.push(invalid(path, value, `must be usable as a single path component: ${why}`));
  };
  check('metadata.uid', pod.metadata?.uid);
  check('metadata.name', pod.metadata?.name);
  check('metadata.namespace', pod.metadata?.namespace ?? 'default');
  const spec = pod.spec as Partial<Pod['spec']> | undefined;
  for (const field of ['initContainers', 'containers'] as const) {
    const list = spec?.[field];
    (Array.isArray(list) ? list : []).forEach((c: Container, i) => check(`spec.${field}[${i}].name`, c?.name));
  }
  (Array.isArray(spec?.volumes) ? spec.volumes : []).forEach((v, i) => check(`spec.volumes[${i}].name`, v?.name));
  return errs;
}

// --- Metadata and resources as the API server checks them (apimachinery's ValidateObjectMeta,
// ValidateResourceRequirements). Messages follow upstream's field errors.

/** Upstream's TotalAnnotationSizeLimitB: keys and values together. */
export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Problems with a qualified name (`prefix/name`): a label or annotation key. */
export function qualifiedNameErrors(key: string): string[] {
  const parts = key.split('/');
  let name = key;
  const out: string[] = [];
  if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    name = parts[1] ?? '';
    if (prefix === '') out.push('prefix part must be non-empty');
    else if (!isDns1123Subdomain(prefix)) out.push('prefix part must be a lowercase RFC 1123 subdomain (at most 253 characters)');
  } else if (parts.length > 2) {
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, with an optional DNS subdomain prefix and '/'",
    ];
  }
  if (name === '') out.push('name part must be non-empty');
  else if (name.length > 63) out.push('name part must be no more than 63 characters');
  else if (!QUALIFIED_NAME.test(name))
    out.push("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character");
  return out;
}

function shown(v: string): string {
  return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v);
}

function validateLabelsAndAnnotations(meta: Pod['metadata'] | undefined, errs: string[]): void {
  const labels = meta?.labels;
  if (labels && typeof labels === 'object' && !Array.isArray(labels)) {
    for (const [key, v] of Object.entries(labels)) {
      for (const e of qualifiedNameErrors(key)) errs.push(`metadata.labels: Invalid value: ${shown(key)}: ${e}`);
      if (typeof v !== 'string') continue;
      if (v.length > 63) errs.push(`metadata.labels: Invalid value: ${shown(v)}: must be no more than 63 characters`);
      else if (!LABEL_VALUE.test(v))
        errs.push(
          `metadata.labels: Invalid value: ${shown(v)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
        );
    }
  }
  const annotations = meta?.annotations;
  if (annotations && typeof annotations === 'object' && !Array.isArray(annotations)) {
    let total = 0;
    for (const [key, v] of Object.entries(annotations)) {
      for (const e of qualifiedNameErrors(key.toLowerCase())) errs.push(`metadata.annotations: Invalid value: ${shown(key)}: ${e}`);
      total += key.length + (typeof v === 'string' ? v.length : 0);
    }
    if (total > TOTAL_ANNOTATION_SIZE_LIMIT) errs.push(`metadata.annotations: Too long: must have at most ${TOTAL_ANNOTATION_SIZE_LIMIT} bytes`);
  }
}

const STANDARD_CONTAINER_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage']);

/** A resource name a container may request: cpu, memory, ephemeral-storage, hugepages-<size>, or a domain-qualified extended resource. */
function resourceNameError(name: string): string | undefined {
  if (STANDARD_CONTAINER_RESOURCES.has(name)) return undefined;
  if (name.startsWith('hugepages-')) {
    try {
      parseQuantity(name.slice('hugepages-'.length));
      return undefined;
    } catch {
      return 'must be a standard resource for containers';
    }
  }
  if (name.includes('/') && qualifiedNameErrors(name).length === 0 && !name.startsWith('kubernetes.io/') && !name.startsWith('requests.')) return undefined;
  return 'must be a standard resource for containers';
}

function validateResources(c: Container, path: string, errs: string[]): void {
  const resources = c.resources;
  if (resources === undefined) return;
  if (typeof resources !== 'object' || resources === null) {
    errs.push(`${path}.resources: must be an object`);
    return;
  }
  const values: Record<'limits' | 'requests', Map<string, number>> = { limits: new Map(), requests: new Map() };
  for (const kind of ['limits', 'requests'] as const) {
    const map = resources[kind];
    if (map === undefined) continue;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) {
      errs.push(`${path}.resources.${kind}: must be a map of quantities`);
      continue;
    }
    for (const [res, q] of Object.entries(map)) {
      const field = `${path}.resources.${kind}[${res}]`;
      const nameErr = resourceNameError(res);
      if (nameErr) errs.push(`${field}: Invalid value: ${shown(res)}: ${nameErr}`);
      if ((typeof q !== 'string' && typeof q !== 'number') || !QUANTITY.test(String(q))) {
        errs.push(`${path}.resources.${kind}.${res}: "${String(q)}" is not a quantity`);
        continue;
      }
      const v = parseQuantity(q);
      if (!Number.isFinite(v)) errs.push(`${field}: Invalid value: ${shown(String(q))}: is out of range`);
      else if (v < 0) errs.push(`${field}: Invalid value: ${shown(String(q))}: must be greater than or equal to 0`);
      else values[kind].set(res, v);
    }
  }
  for (const [res, request] of values.requests) {
    const limit = values.limits.get(res);
    if (limit !== undefined && request > limit)
      errs.push(`${path}.resources.requests: Invalid value: ${shown(String(resources.requests?.[res]))}: must be less than or equal to ${res} limit`);
  }
}
