// The kubelet's own endpoint for submitting static pods (POST /static-pods on the kubelet API,
// authenticated and authorized like every request): manifests sent over HTTPS become static pods
// exactly as files in the manifest folder do (same naming, UIDs and validation), with
// kubernetes.io/config.source "api-submit". The set is written to a file under the root
// folder on every change, so a kubelet restart keeps (and adopts) them instead of killing them
// as orphans.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Pod } from '../api/core-v1.js';
import { parseManifests, toStaticPod } from '../pods/static-pod.js';
import type { SourceSnapshot } from './file-source.js';

export const SUBMIT_SOURCE = 'submit';

export interface SubmitResult {
  accepted: { name: string; namespace: string; uid: string }[];
  errors: string[];
}

export class SubmitSource {
  /** Submitted manifests by namespace/name (as written, before naming), in submission order. */
  private manifests = new Map<string, unknown>();

  constructor(private readonly opts: { file: string; nodeName: string; onSnapshot: (s: SourceSnapshot) => void; logger?: Logger }) {}

  /**
   * Loads the persisted set and emits it (an empty set the first time). A file that cannot be
   * read back is moved aside, not overwritten by the next submission, and logged: the pods it
   * held are then gone from this node, but not from the disk.
   */
  start(): void {
    this.manifests = new Map();
    let text: string | undefined;
    try {
      text = readFileSync(this.opts.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.opts.logger?.error({ file: this.opts.file, err: (err as Error).message }, 'submitted static pods not loaded: cannot read their file');
    }
    if (text !== undefined) {
      try {
        const saved = JSON.parse(text) as { manifests?: unknown };
        if (!Array.isArray(saved.manifests) || !saved.manifests.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string'))
          throw new Error('no list of [key, manifest] pairs');
        this.manifests = new Map(saved.manifests as [string, unknown][]);
        chmodSync(this.opts.file, 0o600); // written 0644 by kubelet-ts before 2026-12-07
      } catch (err) {
        const aside = `${this.opts.file}.unreadable-${Date.now()}`;
        try {
          renameSync(this.opts.file, aside);
        } catch {
          // Nothing more to do: the error below says what happened.
        }
        this.opts.logger?.error(
          { file: this.opts.file, movedTo: aside, err: (err as Error).message },
          'submitted static pods not loaded: their file does not parse; moved aside',
        );
      }
    }
    this.emit();
  }

  /** Adds or replaces pods from manifest text; nothing changes when any document is invalid. */
  submit(text: string): SubmitResult {
    const results = parseManifests(text, { nodeName: this.opts.nodeName, source: 'http', location: SUBMIT_SOURCE });
    const errors = results.filter((r) => !r.ok).map((r) => (r.ok ? '' : `${r.where.replace(SUBMIT_SOURCE, 'body')}: ${r.error}`));
    if (results.length === 0) errors.push('body: no pod manifest found');
    if (errors.length > 0) return { accepted: [], errors };
    const accepted: SubmitResult['accepted'] = [];
    results.forEach((r) => {
      if (!r.ok) return;
      const key = `${r.pod.metadata.namespace ?? 'default'}/${String((r.raw as { metadata?: { name?: string } }).metadata?.name ?? '')}`;
      this.manifests.delete(key);
      this.manifests.set(key, r.raw);
      accepted.push({ name: r.pod.metadata.name ?? '', namespace: r.pod.metadata.namespace ?? 'default', uid: r.pod.metadata.uid ?? '' });
    });
    this.persist();
    this.emit();
    return { accepted, errors: [] };
  }

  /** Removes a submitted pod by the name it was submitted with (or its static name). */
  remove(namespace: string, name: string): boolean {
    const suffix = `-${this.opts.nodeName}`;
    const key = this.manifests.has(`${namespace}/${name}`)
      ? `${namespace}/${name}`
      : name.endsWith(suffix)
        ? `${namespace}/${name.slice(0, -suffix.length)}`
        : '';
    if (!key || !this.manifests.delete(key)) return false;
    this.persist();
    this.emit();
    return true;
  }

  pods(): Pod[] {
    return this.build().pods;
  }

  private build(): SourceSnapshot {
    const pods: Pod[] = [];
    const errors: string[] = [];
    for (const m of this.manifests.values()) {
      const r = toStaticPod(m, { nodeName: this.opts.nodeName, source: 'http', location: SUBMIT_SOURCE });
      if ('pod' in r) {
        r.pod.metadata.annotations = { ...r.pod.metadata.annotations, 'kubernetes.io/config.source': 'api-submit' };
        pods.push(r.pod);
      } else errors.push(r.error);
    }
    return { source: 'http', pods, errors };
  }

  private emit(): void {
    this.opts.onSnapshot({ ...this.build(), source: SUBMIT_SOURCE });
  }

  private persist(): void {
    mkdirSync(dirname(this.opts.file), { recursive: true });
    const tmp = `${this.opts.file}.tmp`;
    // The manifests hold env values and the like: owner-only, as upstream keeps its checkpoints.
    writeFileSync(tmp, `${JSON.stringify({ manifests: [...this.manifests.entries()] }, null, 1)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600); // a leftover tmp file keeps its old mode through writeFileSync
    renameSync(tmp, this.opts.file);
  }
}
