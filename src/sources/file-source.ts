// The static pod folder source (--pod-manifest-path / staticPodPath), as upstream: every regular
// file not starting with "." (symlinks followed; FIFOs, devices and sockets refused, never read;
// at most MANIFEST_LIMITS.maxBytes; see manifest-limits.ts) is read as YAML or JSON (one or many documents, or a List), on a
// filesystem change (fs.watch, debounced) and on a full recheck every fileCheckFrequency (20 s),
// because watches miss events on some filesystems and editors. Each read produces the complete
// set of pods (a snapshot) plus one error per bad document, naming file and document; a bad
// file never hides the good ones. The path may also name a single file.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import type { Pod } from '../api/core-v1.js';
import { parseManifests } from '../pods/static-pod.js';
import { NotRegularFileError, readManifestFile } from './manifest-limits.js';
import { silentLogger } from '../log.js';

export interface SourceSnapshot {
  /** The pod config source: 'file', 'http' (manifest URL), 'submit' (the kubelet endpoint). */
  source: string;
  pods: Pod[];
  /** One line per refused document: "<file>#<doc>: <why>". */
  errors: string[];
}

export interface FileSourceOptions {
  path: string;
  nodeName: string;
  checkEveryMs?: number;
  debounceMs?: number;
  logger?: Logger;
  onSnapshot: (snapshot: SourceSnapshot) => void;
}

export class FileSource {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private stopped = false;
  private readonly log: Logger;
  /** Last error text per file, so a persisting error is logged once, not every 20 s. */
  private reported = new Set<string>();

  constructor(private readonly opts: FileSourceOptions) {
    this.log = (opts.logger ?? silentLogger).child({ source: 'file', path: opts.path });
  }

  async start(): Promise<void> {
    await this.scan();
    try {
      this.watcher = watch(this.opts.path, { persistent: false }, () => this.kick());
      this.watcher.on('error', (err) => this.log.warn({ err: err.message }, 'static pod folder watch failed; relying on the periodic recheck'));
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot watch the static pod path; relying on the periodic recheck');
    }
    this.timer = setInterval(() => this.kick(0), this.opts.checkEveryMs ?? 20_000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }

  /** Schedules a scan (coalescing bursts of change events). */
  kick(delayMs = this.opts.debounceMs ?? 100): void {
    if (this.stopped) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.scan();
    }, delayMs);
  }

  /** Reads everything now and emits a snapshot. Overlapping calls coalesce into one more scan. */
  async scan(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.again = false;
        const snapshot = await this.read();
        if (!this.stopped) this.opts.onSnapshot(snapshot);
      } while (this.again && !this.stopped);
    } finally {
      this.running = false;
    }
  }

  private async files(): Promise<string[]> {
    const path = this.opts.path;
    const st = await stat(path);
    if (st.isFile()) return [path];
    const entries = await readdir(path, { withFileTypes: true });
    return entries
      .filter((e) => !e.name.startsWith('.') && (e.isFile() || e.isSymbolicLink()))
      .map((e) => join(path, e.name))
      .sort();
  }

  private async read(): Promise<SourceSnapshot> {
    const pods: Pod[] = [];
    const errors: string[] = [];
    let files: string[] = [];
    try {
      files = await this.files();
    } catch (err) {
      // A missing folder is an empty set (upstream logs and carries on); it may appear later.
      errors.push(`${this.opts.path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (err as Error).message}`);
    }
    for (const file of files) {
      let text: string;
      try {
        text = await readManifestFile(file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EISDIR') continue;
        // A folder (or a symlink to one) is skipped as upstream does; FIFOs, devices and sockets are refused.
        if (err instanceof NotRegularFileError && err.kind === 'a directory') continue;
        errors.push(
          err instanceof NotRegularFileError || code === 'KTS_MANIFEST_LIMIT' ? (err as Error).message : `${file}: cannot read: ${(err as Error).message}`,
        );
        continue;
      }
      if (text.trim() === '') continue; // an editor's empty save: nothing yet
      for (const r of parseManifests(text, { nodeName: this.opts.nodeName, source: 'file', location: file })) {
        if (r.ok) pods.push(r.pod);
        else errors.push(`${r.where}: ${r.error}`);
      }
    }
    const now = new Set(errors);
    for (const e of errors) if (!this.reported.has(e)) this.log.error({ manifest: basename(e.split(':')[0] ?? '') }, `static pod manifest refused: ${e}`);
    this.reported = now;
    return { source: 'file', pods, errors };
  }
}
