// The status manager: pod statuses from the pod workers to the API server, as upstream's
// status_manager.go, built for density:
//   - a versioned cache per pod UID: every new status bumps the version; a write always sends
//     the newest, and only one write per pod is in flight, so an older status can never land
//     after a newer one;
//   - coalescing: a pod whose status changed ten times while the client was rate limited gets
//     one write, with the latest status (the dirty set holds UIDs, not statuses);
//   - a merge patch of only what changed since the last status written (or, before the first
//     write, since the status the API server holds), with the pod UID as a precondition: a pod
//     deleted and recreated under the same name is never written with another pod's status;
//   - a full reconcile every 10 s: any pod whose API status (as the watch delivers it) lacks what
//     we hold is written again; this repairs writes lost to an outage;
//   - deletion: a pod with a deletionTimestamp that has terminated gets its final status, then
//     the kubelet deletes the object (grace period 0, UID precondition), as upstream.
// Writes go at 'bulk' priority, behind node heartbeats. Static pods' statuses go to their mirror
// pods (`mirrorOf` translates). kubelet_pod_status_sync_duration_seconds measures from the first
// unwritten change of a pod to the write that carried it.
import type { Logger } from 'pino';
import type { Histogram } from 'prom-client';
import type { Pod, PodCondition, PodStatus } from '../api/core-v1.js';
import { ApiError, isTransient, type ApiClient } from '../api/client.js';
import { canonicalJson } from '../pods/hash.js';
import { silentLogger } from '../log.js';

interface Entry {
  /** The pod as the kubelet holds it (namespace, name, uid of the object to write). */
  target: StatusTarget;
  status: PodStatus;
  version: number;
  /** Version and content of the last successful write. */
  writtenVersion: number;
  written: PodStatus | undefined;
  /** When the oldest unwritten change arrived (for the sync duration metric). */
  dirtySince: number | undefined;
  /** Delete the object once this version is written. */
  deleteAfter: number | undefined;
  deleted: boolean;
}

export interface StatusManagerOptions {
  client: ApiClient;
  /** Writes in flight at once (the rate limiter is the real bound). */
  concurrency?: number;
  reconcileEveryMs?: number;
  logger?: Logger;
  syncDuration?: Histogram;
  now?: () => number;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * RFC 7386 merge patch taking `base` to `target`: changed keys set, vanished keys null, lists
 * replaced whole (status lists are small, and replacing avoids merge-key surprises).
 */
export function mergePatch(base: unknown, target: unknown): Record<string, Json> | undefined {
  if (!isObject(base) || !isObject(target)) return undefined;
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(target)) {
    if (v === undefined) continue;
    const b = base[k];
    if (b !== undefined && canonicalJson(b) === canonicalJson(v)) continue;
    if (isObject(b) && isObject(v)) {
      const sub = mergePatch(b, v);
      if (sub && Object.keys(sub).length > 0) out[k] = sub;
      continue;
    }
    out[k] = v as Json;
  }
  for (const k of Object.keys(base)) if (base[k] !== undefined && !(k in target && target[k] !== undefined)) out[k] = null;
  return out;
}

/** True when everything `ours` says is what `theirs` says (extra fields of theirs are fine). */
export function covers(theirs: unknown, ours: unknown): boolean {
  if (ours === undefined) return true;
  if (Array.isArray(ours)) return Array.isArray(theirs) && theirs.length === ours.length && ours.every((v, i) => covers(theirs[i], v));
  if (isObject(ours)) return isObject(theirs) && Object.entries(ours).every(([k, v]) => covers(theirs[k], v));
  return theirs === ours;
}

const TERMINAL = new Set(['Succeeded', 'Failed']);

/** Condition types the kubelet owns (upstream PodConditionsByKubelet); others (readiness gates) are kept. */
const KUBELET_CONDITIONS = new Set(['PodScheduled', 'Ready', 'Initialized', 'ContainersReady']);

/** The object a status is written to; readinessGates are the pod's spec.readinessGates condition types. */
export interface StatusTarget {
  namespace: string;
  name: string;
  uid: string;
  readinessGates?: readonly string[];
}

/**
 * Our status plus the conditions others set on the pod (readiness gates), as upstream's
 * mergePodStatus; with readiness gates, Ready is True only when every gate's condition is True
 * (upstream GeneratePodReadyCondition: reason ReadinessGatesNotReady, one message per gate).
 */
export function withForeignConditions(
  ours: PodStatus,
  api: PodStatus | undefined,
  readinessGates: readonly string[] = [],
  now: () => string = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
): PodStatus {
  const foreign = (api?.conditions ?? []).filter((c) => !KUBELET_CONDITIONS.has(c.type) && !(ours.conditions ?? []).some((o) => o.type === c.type));
  let conditions = foreign.length === 0 ? ours.conditions : [...(ours.conditions ?? []), ...foreign];
  const ready = conditions?.find((c) => c.type === 'Ready');
  if (readinessGates.length > 0 && ready?.status === 'True') {
    const unready: string[] = [];
    for (const gate of readinessGates) {
      const c = conditions?.find((x) => x.type === gate);
      if (!c) unready.push(`corresponding condition of pod readiness gate "${gate}" does not exist.`);
      else if (c.status !== 'True') unready.push(`the status of pod readiness gate "${gate}" is not "True", but ${c.status}`);
    }
    if (unready.length > 0) {
      const was = api?.conditions?.find((c) => c.type === 'Ready');
      const since = was?.status === 'False' && was.lastTransitionTime ? was.lastTransitionTime : now();
      const gated: PodCondition = {
        type: 'Ready',
        status: 'False',
        lastProbeTime: null,
        lastTransitionTime: since,
        reason: 'ReadinessGatesNotReady',
        message: unready.join(', '),
      };
      conditions = conditions?.map((c) => (c === ready ? gated : c));
    }
  }
  return conditions === ours.conditions ? ours : { ...ours, conditions: conditions ?? [] };
}

export class StatusManager {
  private readonly entries = new Map<string, Entry>();
  /** The status the API server holds, per object UID (from the watch, or our writes). */
  private readonly apiStatuses = new Map<string, PodStatus | undefined>();
  private readonly dirty = new Set<string>();
  private inFlight = new Set<string>();
  /** Deletes in flight (one per object). */
  private readonly deleting = new Set<string>();
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly concurrency: number;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  readonly stats = { writes: 0, skipped: 0, errors: 0, deletes: 0, reconciled: 0 };

  constructor(private readonly opts: StatusManagerOptions) {
    this.log = (opts.logger ?? silentLogger).child({ actor: 'status-manager' });
    this.now = opts.now ?? (() => performance.now());
    this.concurrency = opts.concurrency ?? 8;
  }

  start(): void {
    const every = this.opts.reconcileEveryMs ?? 10_000;
    this.reconcileTimer = setInterval(() => this.reconcile(), every);
    this.reconcileTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
  }

  /** Pending writes (dirty and in flight). */
  get pending(): number {
    return this.dirty.size + this.inFlight.size;
  }

  /** A new status for the object `target` (the pod itself, or a static pod's mirror). */
  setStatus(target: StatusTarget, status: PodStatus): void {
    let e = this.entries.get(target.uid);
    if (!e) {
      e = { target, status, version: 0, writtenVersion: 0, written: undefined, dirtySince: undefined, deleteAfter: undefined, deleted: false };
      this.entries.set(target.uid, e);
    }
    e.target = target;
    // Upstream: a pod in a terminal phase never goes back (the API server refuses it anyway).
    const api = this.apiStatuses.get(target.uid);
    const held = e.written?.phase ?? api?.phase;
    e.status = held && TERMINAL.has(held) && !TERMINAL.has(status.phase ?? '') ? { ...status, phase: held } : status;
    e.version++;
    e.dirtySince ??= this.now();
    this.markDirty(target.uid);
  }

  /** What the API server holds for an object (from the watch). */
  apiStatus(uid: string, status: PodStatus | undefined): void {
    this.apiStatuses.set(uid, status);
    // A readiness gate's condition set by someone else changes our Ready: written at once.
    const e = this.entries.get(uid);
    if (e && !e.deleted && (e.target.readinessGates?.length ?? 0) > 0 && status && !this.dirty.has(uid) && !this.inFlight.has(uid)) {
      if (!covers(status, withForeignConditions(e.status, status, e.target.readinessGates))) this.markDirty(uid);
    }
  }

  /** After a full list: forget every object the API server no longer has. */
  retainOnly(uids: ReadonlySet<string>): void {
    for (const uid of [...this.apiStatuses.keys()]) if (!uids.has(uid)) this.apiStatuses.delete(uid);
    for (const [uid, e] of [...this.entries]) if (!uids.has(uid) && (e.writtenVersion > 0 || e.deleted)) this.forget(uid);
  }

  /** The pod (with a deletionTimestamp) has terminated: write the final status, then delete it. */
  terminated(target: StatusTarget, status: PodStatus | undefined): void {
    if (status) this.setStatus(target, status);
    let e = this.entries.get(target.uid);
    if (!e) {
      // Nothing to write first: an entry anyway, so the reconcile retries a failed delete.
      e = {
        target,
        status: this.apiStatuses.get(target.uid) ?? {},
        version: 0,
        writtenVersion: 0,
        written: undefined,
        dirtySince: undefined,
        deleteAfter: 0,
        deleted: false,
      };
      this.entries.set(target.uid, e);
      void this.deleteObject(target, e);
      return;
    }
    e.deleteAfter = e.version;
    this.markDirty(target.uid);
  }

  /** The object is gone from the API server: stop writing it. */
  forget(uid: string): void {
    this.entries.delete(uid);
    this.apiStatuses.delete(uid);
    this.dirty.delete(uid);
  }

  private markDirty(uid: string): void {
    if (this.stopped) return;
    this.dirty.add(uid);
    this.pump();
  }

  private pump(): void {
    while (this.inFlight.size < this.concurrency && this.dirty.size > 0) {
      let uid: string | undefined;
      for (const u of this.dirty) {
        if (!this.inFlight.has(u)) {
          uid = u;
          break;
        }
      }
      if (uid === undefined) return;
      this.dirty.delete(uid);
      this.inFlight.add(uid);
      void this.write(uid).finally(() => {
        this.inFlight.delete(uid);
        this.pump();
      });
    }
  }

  private async write(uid: string): Promise<void> {
    const e = this.entries.get(uid);
    if (!e || e.deleted) return;
    const version = e.version;
    const status = withForeignConditions(e.status, this.apiStatuses.get(uid), e.target.readinessGates);
    const base = e.written ?? this.apiStatuses.get(uid) ?? {};
    const patch = mergePatch(base, status);
    const path = `/api/v1/namespaces/${encodeURIComponent(e.target.namespace)}/pods/${encodeURIComponent(e.target.name)}`;
    try {
      if (patch && Object.keys(patch).length > 0) {
        const pod = await this.opts.client.patch<Pod>(`${path}/status`, { metadata: { uid }, status: patch }, 'merge', 'bulk');
        this.stats.writes++;
        if (this.entries.has(uid)) this.apiStatuses.set(uid, pod.status);
        if (e.dirtySince !== undefined) this.opts.syncDuration?.observe((this.now() - e.dirtySince) / 1000);
      } else {
        this.stats.skipped++;
      }
      e.written = status;
      e.writtenVersion = version;
      e.dirtySince = e.version > version ? this.now() : undefined;
      if (e.version > version) this.markDirty(uid);
      else if (e.deleteAfter !== undefined && e.deleteAfter <= version) await this.deleteObject(e.target, e);
    } catch (err) {
      if (
        err instanceof ApiError &&
        (err.code === 'KTS_API_NOT_FOUND' || (err.code === 'KTS_API_INVALID' && /uid/i.test(err.message)) || err.code === 'KTS_API_CONFLICT')
      ) {
        // Gone, or replaced by another pod of the same name: nothing to write any more.
        this.log.info(
          { pod: `${e.target.namespace}/${e.target.name}`, uid, reason: err.reason || err.code },
          'pod status not written: the pod is gone from the API server',
        );
        this.forget(uid);
        return;
      }
      this.stats.errors++;
      this.log.warn(
        { pod: `${e.target.namespace}/${e.target.name}`, err: (err as Error).message, transient: isTransient(err) },
        'pod status write failed; the reconcile retries',
      );
    }
  }

  private async deleteObject(target: { namespace: string; name: string; uid: string }, e?: Entry): Promise<void> {
    if (this.deleting.has(target.uid)) return;
    this.deleting.add(target.uid);
    try {
      await this.deleteOnce(target, e);
    } finally {
      this.deleting.delete(target.uid);
    }
  }

  private async deleteOnce(target: { namespace: string; name: string; uid: string }, e?: Entry): Promise<void> {
    const path = `/api/v1/namespaces/${encodeURIComponent(target.namespace)}/pods/${encodeURIComponent(target.name)}`;
    try {
      await this.opts.client.delete(path, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: target.uid } }, 'normal');
      this.stats.deletes++;
      if (e) e.deleted = true;
      this.log.info({ pod: `${target.namespace}/${target.name}`, uid: target.uid }, 'pod object deleted after termination');
    } catch (err) {
      if (err instanceof ApiError && (err.code === 'KTS_API_NOT_FOUND' || err.code === 'KTS_API_CONFLICT')) {
        if (e) e.deleted = true;
        return;
      }
      this.stats.errors++;
      this.log.warn({ pod: `${target.namespace}/${target.name}`, err: (err as Error).message }, 'pod delete failed; the reconcile retries');
    }
  }

  /** Every 10 s: write what the API server does not show (lost writes, outages), retry deletes. */
  reconcile(): void {
    for (const [uid, e] of this.entries) {
      if (e.deleted) continue;
      if (this.dirty.has(uid) || this.inFlight.has(uid)) continue;
      const api = this.apiStatuses.get(uid);
      const unwritten = e.writtenVersion < e.version;
      const drifted = api !== undefined && !covers(api, withForeignConditions(e.status, api, e.target.readinessGates));
      const deletePending = e.deleteAfter !== undefined && e.deleteAfter <= e.writtenVersion;
      if (unwritten || drifted || deletePending) {
        if (drifted && !unwritten) e.written = api; // diff against what the server really holds
        this.stats.reconciled++;
        if (deletePending && !unwritten && !drifted) {
          void this.deleteObject(e.target, e);
          continue;
        }
        this.markDirty(uid);
      }
    }
  }
}
