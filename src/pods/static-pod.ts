// Static pods: manifests from a folder, a URL or the kubelet's own endpoint become pods the way
// the upstream kubelet makes them: API defaults applied, name `<name>-<node>`, namespace
// "default" when absent, spec.nodeName set, a UID that is a hash of the node, the source and the
// manifest (so editing a manifest yields a new UID: the old pod terminates, the new one starts),
// annotations kubernetes.io/config.hash (the UID) and kubernetes.io/config.source, and a
// toleration of every NoExecute taint. Upstream hashes Go's struct dump; we hash the canonical
// JSON of the manifest, so UIDs are stable across restarts of kubelet-ts but not equal to the Go
// kubelet's (nothing depends on that: mirror pods carry the hash they are given).
//
// Parsing never throws: every document of a file comes back as a pod or as a clear error that
// names the file and the document, so one bad manifest stops nothing else.
import { createHash } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import type { Container, Pod, Probe } from '../api/core-v1.js';
import { validatePod } from './validation.js';
import { canonicalJson } from './hash.js';
import { checkManifestText, MANIFEST_LIMITS } from '../sources/manifest-limits.js';

export const ANNOTATION_CONFIG_HASH = 'kubernetes.io/config.hash';
export const ANNOTATION_CONFIG_SOURCE = 'kubernetes.io/config.source';
export const ANNOTATION_CONFIG_SEEN = 'kubernetes.io/config.seen';
export const ANNOTATION_CONFIG_MIRROR = 'kubernetes.io/config.mirror';

/** etcd's default --max-request-bytes (1.5 MiB), the largest object an API server can store. */
export const MAX_POD_BYTES = 1.5 * 1024 * 1024;

export type StaticSource = 'file' | 'http' | 'api';

export type ManifestResult =
  /** `raw`: the document as written, for sources that keep manifests (the submit endpoint). */
  { ok: true; pod: Pod; where: string; raw: unknown } | { ok: false; error: string; where: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A list field as written, or nothing to default when it is not a list (validation names it). */
const listOf = <T>(v: T[] | undefined): T[] => (Array.isArray(v) ? v : []);

function defaultProbe(p: Probe | undefined): void {
  if (!isObject(p)) return;
  p.timeoutSeconds ??= 1;
  p.periodSeconds ??= 10;
  p.successThreshold ??= 1;
  p.failureThreshold ??= 3;
  if (isObject(p.httpGet)) {
    p.httpGet.path ??= '/';
    p.httpGet.scheme ??= 'HTTP';
  }
}

/** The pull policy upstream defaults to: Always for `:latest` or no tag, else IfNotPresent. */
export function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  if (image.includes('@')) return 'IfNotPresent';
  const lastSlash = image.lastIndexOf('/');
  const colon = image.indexOf(':', lastSlash + 1);
  const tag = colon >= 0 ? image.slice(colon + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultContainer(c: Container): void {
  if (typeof c !== 'object' || c === null) return;
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  if (typeof c.image === 'string') c.imagePullPolicy ??= defaultPullPolicy(c.image);
  for (const p of listOf(c.ports)) if (isObject(p)) p.protocol ??= 'TCP';
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
}

/** API server defaults for the fields the kubelet reads (SetDefaults_Pod and friends). */
export function applyPodDefaults(pod: Pod): void {
  pod.metadata.namespace ||= 'default';
  const spec = pod.spec;
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  for (const c of listOf(spec.initContainers)) defaultContainer(c);
  for (const c of listOf(spec.containers)) defaultContainer(c);
}

/**
 * Turns one decoded manifest into a static pod for `nodeName`, or explains why it cannot.
 * `location` is the file path or URL (part of the UID, as upstream).
 */
export function toStaticPod(doc: unknown, opts: { nodeName: string; source: StaticSource; location: string }): { pod: Pod } | { error: string } {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { error: 'not a Pod object' };
  const raw = doc as Record<string, unknown>;
  if (raw['kind'] !== 'Pod') return { error: `kind must be Pod, not ${JSON.stringify(raw['kind'])}` };
  if (raw['apiVersion'] !== 'v1') return { error: `apiVersion must be v1, not ${JSON.stringify(raw['apiVersion'])}` };
  if (typeof raw['metadata'] !== 'object' || raw['metadata'] === null) return { error: 'metadata: required' };
  if (typeof raw['spec'] !== 'object' || raw['spec'] === null) return { error: 'spec: required' };
  const pod = structuredClone(raw) as unknown as Pod;
  delete pod.status;
  const hash = createHash('md5');
  hash.update(`host:${opts.nodeName}`);
  hash.update(opts.source === 'file' ? `file:${opts.location}` : `url:${opts.location}`);
  const canonical = canonicalJson(raw);
  // What a cluster could store (etcd's default request limit): a bigger pod is no pod upstream either.
  const podBytes = Buffer.byteLength(canonical, 'utf8');
  if (podBytes > MAX_POD_BYTES) return { error: `pod is ${podBytes} bytes as JSON, more than the ${MAX_POD_BYTES} an API server stores` };
  hash.update(canonical);
  const uid = typeof pod.metadata.uid === 'string' && pod.metadata.uid !== '' ? pod.metadata.uid : hash.digest('hex');
  const name = pod.metadata.name;
  applyPodDefaults(pod);
  // Validate with the name as written, so the message speaks of what the user wrote.
  const problems = validatePod(pod);
  if (problems.length > 0) return { error: `invalid pod: ${problems.join('; ')}` };
  pod.metadata.name = `${name}-${opts.nodeName}`;
  if (pod.metadata.name.length > 253) return { error: `metadata.name: "${pod.metadata.name}" is longer than 253 characters with the node name` };
  pod.metadata.uid = uid;
  pod.metadata.annotations = { ...pod.metadata.annotations, [ANNOTATION_CONFIG_HASH]: uid, [ANNOTATION_CONFIG_SOURCE]: opts.source };
  pod.spec.nodeName = opts.nodeName;
  const tolerations = pod.spec.tolerations ?? [];
  if (!tolerations.some((t) => t.operator === 'Exists' && t.effect === 'NoExecute' && !t.key)) {
    pod.spec.tolerations = [...tolerations, { operator: 'Exists', effect: 'NoExecute' }];
  }
  return { pod };
}

/**
 * Parses manifest text (YAML or JSON; one or many documents; a `List`/`PodList` of pods) into
 * static pods. `where` in each result names the document ("file.yaml#2", "file.yaml#1.items[3]").
 */
export function parseManifests(text: string, opts: { nodeName: string; source: StaticSource; location: string }): ManifestResult[] {
  try {
    return parseWithinLimits(text, opts);
  } catch (err) {
    // Nothing in here should throw; if something does (a library's edge), it is this text's error.
    return [{ ok: false, where: opts.location, error: `cannot parse: ${err instanceof Error ? err.message : String(err)}` }];
  }
}

function parseWithinLimits(text: string, opts: { nodeName: string; source: StaticSource; location: string }): ManifestResult[] {
  const out: ManifestResult[] = [];
  try {
    checkManifestText(text);
  } catch (err) {
    return [{ ok: false, where: opts.location, error: `refused before parsing: ${(err as Error).message}` }];
  }
  let docs;
  try {
    // logLevel 'error': the library's warnings (collection keys stringified) would go to process warnings, i.e. stderr.
    docs = parseAllDocuments(text, { uniqueKeys: true, logLevel: 'error' });
  } catch (err) {
    return [{ ok: false, where: opts.location, error: `cannot parse: ${(err as Error).message}` }];
  }
  const list = Array.isArray(docs) ? docs : [docs];
  let objects = 0;
  list.forEach((doc, i) => {
    const where = list.length > 1 ? `${opts.location}#${i + 1}` : opts.location;
    if (doc.errors.length > 0) {
      out.push({ ok: false, where, error: `cannot parse: ${doc.errors[0]?.message.split('\n')[0] ?? 'YAML error'}` });
      return;
    }
    let value: unknown;
    try {
      // maxAliasCount bounds alias expansion ("billion laughs"); 100 is the library's default, stated here on purpose.
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      out.push({ ok: false, where, error: `cannot parse: ${(err as Error).message.split('\n')[0] ?? ''}` });
      return;
    }
    if (value === null || value === undefined) return; // an empty document, e.g. a trailing ---
    const kind = (value as { kind?: unknown }).kind;
    if (kind === 'List' || kind === 'PodList') {
      const items = (value as { items?: unknown }).items;
      if (!Array.isArray(items)) {
        out.push({ ok: false, where, error: `${String(kind)} without items` });
        return;
      }
      items.forEach((item, j) => {
        if (++objects > MANIFEST_LIMITS.maxPods) {
          if (objects === MANIFEST_LIMITS.maxPods + 1)
            out.push({ ok: false, where: `${where}.items[${j}]`, error: `more than ${MANIFEST_LIMITS.maxPods} pods in one manifest; the rest is ignored` });
          return;
        }
        const r = toStaticPod(item, opts);
        const w = `${where}.items[${j}]`;
        out.push('pod' in r ? { ok: true, pod: r.pod, where: w, raw: item } : { ok: false, where: w, error: r.error });
      });
      return;
    }
    if (++objects > MANIFEST_LIMITS.maxPods) {
      if (objects === MANIFEST_LIMITS.maxPods + 1)
        out.push({ ok: false, where, error: `more than ${MANIFEST_LIMITS.maxPods} pods in one manifest; the rest is ignored` });
      return;
    }
    const r = toStaticPod(value, opts);
    out.push('pod' in r ? { ok: true, pod: r.pod, where, raw: value } : { ok: false, where, error: r.error });
  });
  return out;
}
