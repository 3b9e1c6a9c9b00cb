// Pod config: merges the pod sources (static folder, manifest URL, the HTTP endpoint, the API
// server) into one desired set and says what changed, as upstream's PodConfig. Each source sends
// its whole current set (a snapshot); the merge compares it with that source's previous set:
//   new UID -> add;  same UID, other content -> update;  UID gone -> remove.
// A pod whose namespace/name is already held by another pod (from any source) is refused with a
// clear error and never reaches a pod worker; the first holder keeps the name.
// A pod whose UID, name, namespace, container or volume names could not each be one plain path
// component is refused here too, whatever its source: they name its folders on the node, and an
// API server's pod is checked as a static one is (validation.ts validatePodPathFields).
// Removals of pods that no source has ever sent (leftovers found in the runtime after a restart)
// wait until every source has delivered its first snapshot: `allSourcesReady`.
import type { Pod } from '../api/core-v1.js';
import { canonicalJson } from './hash.js';
import { ANNOTATION_CONFIG_SEEN, ANNOTATION_CONFIG_SOURCE } from './static-pod.js';
import { validatePodPathFields } from './validation.js';

export type PodChange = { op: 'add'; pod: Pod; source: string } | { op: 'update'; pod: Pod; source: string } | { op: 'remove'; pod: Pod; source: string };

export interface RefusedPod {
  source: string;
  fullName: string;
  uid: string;
  reason: string;
  /** The pod as the source sent it (for an event on it). */
  pod?: Pod;
}

interface Held {
  pod: Pod;
  source: string;
  fingerprint: string;
}

export function fullName(pod: Pod): string {
  return `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name ?? ''}`;
}

/**
 * Content that matters for change detection, as upstream's checkAndUpdatePod: the spec, labels,
 * annotations (but the seen stamp) and the deletion fields. Status, resourceVersion and
 * managedFields are left out: a status write of our own comes back through the watch and must
 * not count as a change of the pod.
 */
function fingerprint(pod: Pod): string {
  const m = pod.metadata;
  const annotations = { ...m.annotations };
  delete annotations[ANNOTATION_CONFIG_SEEN];
  return canonicalJson({
    name: m.name,
    namespace: m.namespace,
    uid: m.uid,
    labels: m.labels ?? {},
    annotations,
    deletionTimestamp: m.deletionTimestamp ?? null,
    deletionGracePeriodSeconds: m.deletionGracePeriodSeconds ?? null,
    spec: pod.spec,
  });
}

export class PodConfig {
  private readonly pods = new Map<string, Held>();
  private readonly names = new Map<string, string>();
  private readonly bySource = new Map<string, Set<string>>();
  private readonly seen = new Set<string>();

  constructor(
    private readonly sources: readonly string[],
    private readonly now: () => string = () => new Date().toISOString(),
    /** Sources whose own name always goes into kubernetes.io/config.source. */
    private readonly stampAlways: ReadonlySet<string> = new Set(['api']),
  ) {}

  /** True once this source has sent a full set. */
  hasSpoken(source: string): boolean {
    return this.seen.has(source);
  }

  /** Applies one source's full set; returns the changes and the pods refused. */
  set(source: string, pods: readonly Pod[]): { changes: PodChange[]; refused: RefusedPod[] } {
    this.checkSource(source);
    const previous = this.bySource.get(source) ?? new Set<string>();
    const incomingUids = new Set(pods.map((p) => p.metadata.uid ?? ''));
    const gone = [...previous].filter((uid) => !incomingUids.has(uid));
    return this.apply(source, pods, gone, true);
  }

  /**
   * Applies a delta from a source that streams changes (the API server's watch): pods added or
   * changed, and UIDs gone. The source counts as having spoken once it sends `initial: true`.
   */
  delta(
    source: string,
    upserts: readonly Pod[],
    deletes: readonly string[],
    opts: { initial?: boolean } = {},
  ): { changes: PodChange[]; refused: RefusedPod[] } {
    this.checkSource(source);
    return this.apply(source, upserts, deletes, opts.initial ?? false);
  }

  private checkSource(source: string): void {
    if (!this.sources.includes(source)) throw new Error(`pod config: unknown source "${source}" (known: ${this.sources.join(', ')})`);
  }

  private apply(source: string, pods: readonly Pod[], deletes: readonly string[], full: boolean): { changes: PodChange[]; refused: RefusedPod[] } {
    if (full) this.seen.add(source);
    const changes: PodChange[] = [];
    const refused: RefusedPod[] = [];
    const owned = this.bySource.get(source) ?? new Set<string>();
    // Removals first: an edited static pod comes back under a new UID with the same name, and
    // the name must be free for it.
    for (const uid of deletes) if (owned.has(uid)) this.drop(uid, source, owned, changes);
    const current = new Set<string>();
    for (const incoming of pods) {
      const uid = incoming.metadata.uid ?? '';
      const name = fullName(incoming);
      if (!uid) {
        refused.push({ source, fullName: name, uid, reason: 'metadata.uid is empty' });
        continue;
      }
      const unsafe = validatePodPathFields(incoming);
      if (unsafe.length > 0) {
        refused.push({ source, fullName: name, uid, reason: `invalid pod: ${unsafe.join('; ')}`, pod: incoming });
        continue;
      }
      if (current.has(uid)) {
        refused.push({ source, fullName: name, uid, reason: `duplicate UID ${uid} in one update of source ${source}` });
        continue;
      }
      const holder = this.names.get(name);
      if (holder !== undefined && holder !== uid) {
        const other = this.pods.get(holder);
        refused.push({ source, fullName: name, uid, reason: `duplicate pod name ${name}: already used by pod ${holder} from source ${other?.source ?? '?'}` });
        continue;
      }
      const held = this.pods.get(uid);
      if (held && held.source !== source) {
        refused.push({ source, fullName: name, uid, reason: `pod ${uid} already comes from source ${held.source}` });
        continue;
      }
      current.add(uid);
      owned.add(uid);
      const fp = fingerprint(incoming);
      if (held && held.fingerprint === fp) continue;
      const pod = structuredClone(incoming);
      pod.metadata.annotations = {
        ...pod.metadata.annotations,
        // A watching source (the API server) always names itself: an object copied from a mirror
        // pod's YAML may carry another source's stamp.
        [ANNOTATION_CONFIG_SOURCE]: (this.stampAlways.has(source) ? undefined : pod.metadata.annotations?.[ANNOTATION_CONFIG_SOURCE]) ?? source,
        [ANNOTATION_CONFIG_SEEN]: held?.pod.metadata.annotations?.[ANNOTATION_CONFIG_SEEN] ?? this.now(),
      };
      if (held && fullName(held.pod) !== name) this.names.delete(fullName(held.pod));
      this.pods.set(uid, { pod, source, fingerprint: fp });
      this.names.set(name, uid);
      changes.push({ op: held ? 'update' : 'add', pod, source });
    }
    // A refused pod that this source held before (e.g. renamed onto a taken name) is gone from it.
    if (full) {
      for (const uid of [...owned]) if (!current.has(uid)) this.drop(uid, source, owned, changes);
    }
    this.bySource.set(source, owned);
    return { changes, refused };
  }

  /** Takes a pod out of the config (and its source's set), freeing its name. */
  private drop(uid: string, source: string, owned: Set<string>, changes: PodChange[]): void {
    owned.delete(uid);
    const held = this.pods.get(uid);
    if (!held) return;
    this.pods.delete(uid);
    if (this.names.get(fullName(held.pod)) === uid) this.names.delete(fullName(held.pod));
    changes.push({ op: 'remove', pod: held.pod, source });
  }

  /** How many pods one source holds. */
  sizeOf(source: string): number {
    return this.bySource.get(source)?.size ?? 0;
  }

  /** Which source holds a pod. */
  sourceOf(uid: string): string | undefined {
    return this.pods.get(uid)?.source;
  }

  get(uid: string): Pod | undefined {
    return this.pods.get(uid)?.pod;
  }

  all(): Pod[] {
    return [...this.pods.values()].map((h) => h.pod);
  }

  get size(): number {
    return this.pods.size;
  }

  /** True once every source has sent at least one full set. */
  allSourcesReady(): boolean {
    return this.sources.every((s) => this.seen.has(s));
  }
}
