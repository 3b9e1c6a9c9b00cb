// The atomic writer: upstream's on-disk layout for secret, configMap, downwardAPI and projected
// volumes, so a reader inside the container never sees half of an update:
//
//   <volume dir>/
//     ..2024_05_01_10_00_00.ab12cd/   the files of one version (a fresh folder per write)
//     ..data -> ..2024_05_01_10_00_00.ab12cd
//     key    -> ..data/key            one relative symlink per user-visible top-level name
//     conf   -> ..data/conf           (nested paths: the top-level folder is the symlink)
//
// A write builds the new version folder, points `..data_tmp` at it and renames that over
// `..data` (rename(2) swaps the link atomically), then adds the symlinks of new names, removes
// the symlinks of names that disappeared and deletes the old version folder. A payload equal to
// what `..data` holds (same paths, bytes and modes) writes nothing.
//
// Assumes one writer per volume dir at a time (the volume manager serializes per pod).
// Payload paths come from the pod (items[].path) and from API objects (keys): besides upstream's
// validatePath they are joined through safe-path, and nothing is deleted outside the volume dir.
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rename, rm, stat, symlink, unlink, writeFile, chmod } from 'node:fs/promises';
import { posix } from 'node:path';
import { InvalidPathError } from './errors.js';
import { joinRelative, joinUnder, removeInside } from '../util/safe-path.js';

export interface FileProjection {
  data: Buffer;
  /** Permission bits, e.g. 0o644. */
  mode: number;
}

/** Relative file path -> content and mode. */
export type Payload = Map<string, FileProjection>;

export const DATA_DIR_NAME = '..data';
export const DATA_DIR_TMP_NAME = '..data_tmp';
const MAX_PATH_LENGTH = 4096;
const VERSION_DIR = /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\./;

/** Upstream's validatePath: relative, no '..' element, not starting with '..', at most 4096 characters. */
export function validatePayloadPath(p: string): void {
  if (p.length === 0) throw new InvalidPathError(`invalid path: must not be empty: "${p}"`);
  if (p.includes('\0')) throw new InvalidPathError(`invalid path: must not contain NUL: ${JSON.stringify(p)}`);
  if (p.length > MAX_PATH_LENGTH) throw new InvalidPathError('invalid path: must be less than or equal to 4096 characters');
  if (posix.isAbsolute(p)) throw new InvalidPathError(`invalid path: must be relative path: ${p}`);
  const items = p.split('/');
  if (items.includes('..')) throw new InvalidPathError(`invalid path: must not contain '..': ${p}`);
  const first = items[0] ?? '';
  if (first.startsWith('..') && first.length > 2) throw new InvalidPathError(`invalid path: must not start with '..': ${p}`);
}

/** Validates every path and cleans it (`a//b/` -> `a/b`), as upstream's validatePayload. */
export function cleanPayload(payload: Payload): Payload {
  const out: Payload = new Map();
  for (const [p, f] of payload) {
    validatePayloadPath(p);
    const clean = posix.normalize(p).replace(/\/+$/, '');
    if (clean === '.' || clean === '') throw new InvalidPathError(`invalid path: must not be empty: "${p}"`);
    out.set(clean, f);
  }
  return out;
}

function topLevel(p: string): string {
  const i = p.indexOf('/');
  return i < 0 ? p : p.slice(0, i);
}

/** Upstream's version folder prefix: `..` + UTC time as 2006_01_02_15_04_05 + `.`. */
function versionPrefix(now: Date): string {
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `..${now.getUTCFullYear()}_${pad(now.getUTCMonth() + 1)}_${pad(now.getUTCDate())}_${pad(now.getUTCHours())}_${pad(now.getUTCMinutes())}_${pad(now.getUTCSeconds())}.`;
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Files (relative paths) under `dir`, recursively; symlinks inside a version folder are not expected. */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(posix.join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out;
}

export interface WriteResult {
  /** A new version was written (false: the payload equals what is there). */
  written: boolean;
  /** User-visible names removed because the payload no longer has them. */
  removed: string[];
}

export class AtomicWriter {
  constructor(
    readonly targetDir: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The version folder `..data` points at, or undefined before the first write. */
  async currentVersion(): Promise<string | undefined> {
    try {
      return await readlink(posix.join(this.targetDir, DATA_DIR_NAME));
    } catch {
      return undefined;
    }
  }

  private async sameAs(payload: Payload, versionDir: string): Promise<boolean> {
    let files: string[];
    try {
      files = await listFiles(versionDir);
    } catch {
      return false;
    }
    if (files.length !== payload.size) return false;
    for (const f of files) {
      const want = payload.get(f);
      if (!want) return false;
      const full = posix.join(versionDir, f);
      const st = await stat(full);
      if ((st.mode & 0o7777) !== want.mode || st.size !== want.data.length) return false;
      if (!(await readFile(full)).equals(want.data)) return false;
    }
    return true;
  }

  async write(input: Payload): Promise<WriteResult> {
    const payload = cleanPayload(input);
    const dir = this.targetDir;
    const oldVersion = await this.currentVersion();
    // `..data` is ours, but it is read back from disk: a link that is no plain name is ignored.
    const oldDir = oldVersion && !oldVersion.includes('/') && VERSION_DIR.test(oldVersion) ? posix.join(dir, oldVersion) : undefined;
    const oldFiles = oldDir ? await listFiles(oldDir).catch(() => [] as string[]) : [];
    const newTops = new Set([...payload.keys()].map(topLevel));
    const removedTops = [...new Set(oldFiles.map(topLevel))].filter((t) => !newTops.has(t));

    if (oldDir && (await this.sameAs(payload, oldDir))) {
      // Unchanged: only repair missing user-visible links (a crash between swap and links).
      await this.linkVisible(newTops);
      return { written: false, removed: [] };
    }

    const versionDir = await mkdtemp(posix.join(dir, versionPrefix(this.now())));
    try {
      await chmod(versionDir, 0o755);
      for (const [p, f] of payload) {
        const full = joinRelative(versionDir, p, 'file path');
        await mkdir(posix.dirname(full), { recursive: true, mode: 0o755 });
        await writeFile(full, f.data, { mode: f.mode });
        await chmod(full, f.mode); // the umask may have cut the mode
      }
      const tmpLink = posix.join(dir, DATA_DIR_TMP_NAME);
      await rm(tmpLink, { force: true });
      await symlink(posix.basename(versionDir), tmpLink);
      await rename(tmpLink, posix.join(dir, DATA_DIR_NAME));
    } catch (err) {
      await removeInside(dir, versionDir, 'version folder');
      throw err;
    }

    await this.linkVisible(newTops);
    for (const t of removedTops) await unlink(joinUnder(dir, [t], 'file name')).catch(() => undefined);
    if (oldDir) await removeInside(dir, oldDir, 'version folder');
    // Version folders a crashed write left behind.
    const current = posix.basename(versionDir);
    for (const name of await readdir(dir)) {
      if (VERSION_DIR.test(name) && name !== current) await removeInside(dir, posix.join(dir, name), 'version folder');
    }
    return { written: true, removed: removedTops };
  }

  private async linkVisible(tops: Iterable<string>): Promise<void> {
    for (const t of tops) {
      const visible = joinUnder(this.targetDir, [t], 'file name');
      if (!(await exists(visible))) await symlink(posix.join(DATA_DIR_NAME, t), visible);
    }
  }
}
