// Host paths built from pod data. A pod's UID, name and namespace, its container and volume names,
// subPaths and the items[].path of projected files all end up in paths on the node: the pod's
// folder under --root-dir (etc-hosts, volumes, termination-message files), its log folder, its
// cgroup. None of them is trusted: a static pod never passed an API server, and the node does not
// take an API server's word for what is safe on its own disk. Every place that turns such a value
// into a host path goes through here.
//
// The rule is refusal, never repair: a value that would need cleaning to stay inside its base is
// a broken or hostile pod, and quietly mapping it somewhere else would hide that (and two pods
// could be cleaned onto one folder). Refusals are UnsafePathError, code KTS_UNSAFE_PATH.
//
//   component / joinUnder  single components (UIDs, names): non-empty, no '/', no NUL, not '.' or
//                          '..', at most 255 bytes (NAME_MAX);
//   joinRelative           a relative path of several segments (subPath, items[].path): not
//                          absolute, no '..' segment, no NUL; normalised, then checked to be inside;
//   realPathInside         at time of use, through symlinks: the real path must stay inside the
//                          base's real path (a subPath points into a volume the container writes,
//                          so the container may have planted symlinks there since it was checked);
//   mkdirInside            makes missing folders one at a time, following no symlink out of the base;
//   removeInside           the only recursive delete: strictly inside the base, lexically and by
//                          the real path of the parent folder.
//
// Residual race, as upstream without its /proc/self/fd bind mounts: a container can swap a folder
// of its volume for a symlink between realPathInside and the runtime's mount. The runtime is given
// the resolved real path, so the swap has to hit a real folder on that path, not a symlink we let through.
import { lstat, mkdir, realpath, rm } from 'node:fs/promises';
import { posix } from 'node:path';

export const UNSAFE_PATH = 'KTS_UNSAFE_PATH';
const NAME_MAX = 255;
const PATH_MAX = 4096;

/** A value from a pod would make a host path outside the folder it belongs in. */
export class UnsafePathError extends Error {
  override readonly name = 'UnsafePathError';
  readonly code = UNSAFE_PATH;
  constructor(
    message: string,
    /** What the value is (`pod uid`, `subPath`, ...). */
    readonly what: string,
    readonly value: string,
  ) {
    super(message);
  }
}

export function isUnsafePathError(err: unknown): err is UnsafePathError {
  return err instanceof UnsafePathError;
}

function refuse(what: string, value: unknown, why: string): never {
  const text = typeof value === 'string' ? value : String(value);
  throw new UnsafePathError(`unsafe ${what} ${JSON.stringify(text)}: ${why}`, what, text);
}

/** Why `value` is not one safe path component, or undefined when it is. */
export function componentProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value === '') return 'must not be empty';
  if (value.includes('\0')) return 'must not contain NUL';
  if (value.includes('/')) return "must not contain '/'";
  if (value === '.' || value === '..') return `must not be '${value}'`;
  if (Buffer.byteLength(value, 'utf8') > NAME_MAX) return `must be at most ${NAME_MAX} bytes`;
  return undefined;
}

/** `value` when it is one safe path component; throws UnsafePathError otherwise. */
export function component(value: unknown, what: string): string {
  const why = componentProblem(value);
  if (why !== undefined) refuse(what, value, why);
  return value as string;
}

/** Why `value` is not a safe relative path (below some base), or undefined when it is. */
export function relativePathProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value === '') return 'must not be empty';
  if (value.includes('\0')) return 'must not contain NUL';
  if (posix.isAbsolute(value)) return 'must be a relative path';
  if (Buffer.byteLength(value, 'utf8') > PATH_MAX) return `must be at most ${PATH_MAX} bytes`;
  const segments = value.split('/');
  if (segments.includes('..')) return "must not contain '..'";
  if (segments.some((s) => Buffer.byteLength(s, 'utf8') > NAME_MAX)) return `must have components of at most ${NAME_MAX} bytes`;
  return undefined;
}

/** Is `path` inside `base` (lexically, both normalised; `orEqual`: the base itself counts)? */
export function isInside(base: string, path: string, orEqual = false): boolean {
  const rel = posix.relative(posix.resolve(base), posix.resolve(path));
  if (rel === '') return orEqual;
  return rel !== '..' && !rel.startsWith('../') && !posix.isAbsolute(rel);
}

function mustBeInside(base: string, path: string, what: string, value: string, orEqual: boolean): string {
  if (!isInside(base, path, orEqual)) refuse(what, value, `resolves to "${path}", outside "${base}"`);
  return path;
}

/**
 * `base` joined with single components, each checked by component(); `what` names them in the
 * error (one label per component, or one for all).
 */
export function joinUnder(base: string, components: readonly string[], what: string | readonly string[] = 'path component'): string {
  const checked = components.map((c, i) => component(c, typeof what === 'string' ? what : (what[i] ?? 'path component')));
  const joined = posix.join(base, ...checked);
  // Implied by the component checks; kept so a future change to them cannot open an escape.
  return mustBeInside(base, joined, typeof what === 'string' ? what : 'path', checked.join('/'), checked.length === 0);
}

/** `base` joined with a relative path of several segments (subPath, items[].path), normalised. */
export function joinRelative(base: string, rel: string, what = 'relative path'): string {
  const why = relativePathProblem(rel);
  if (why !== undefined) refuse(what, rel, why);
  // orEqual: '.' or 'a/..'-free forms like './' name the base itself, which is inside.
  return mustBeInside(base, posix.join(base, rel), what, rel, true);
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export interface RealPathLabels {
  /** How the resolved path is named in the error ("subpath"). */
  path?: string;
  /** How the base is named in the error ("volume path"). */
  base?: string;
}

/**
 * At time of use: `rel` below `base`, resolved through every symlink, must stay inside the real
 * path of `base`. Returns the real path (give that, not the lexical one, to whoever mounts it).
 * A missing path rejects with the fs error (ENOENT): there is nothing to use.
 */
export async function realPathInside(base: string, rel: string, what = 'relative path', labels: RealPathLabels = {}): Promise<string> {
  const lexical = joinRelative(base, rel, what);
  // fs errors (ENOENT: nothing there) pass through unchanged: they are not about safety.
  const [realBase, real] = await Promise.all([realpath(base), realpath(lexical)]);
  if (!isInside(realBase, real, true)) {
    throw new UnsafePathError(`${labels.path ?? what} "${real}" not within ${labels.base ?? 'base'} "${realBase}"`, what, rel);
  }
  return real;
}

/**
 * Makes the folders of `rel` below `base` that are missing (each with `mode`), one level at a
 * time: an existing symlink on the way is followed only when its real path stays inside the
 * base's, so mkdir never creates anything outside (mkdir -p would follow a planted link).
 */
export async function mkdirInside(base: string, rel: string, mode: number, what = 'relative path'): Promise<void> {
  joinRelative(base, rel, what);
  const realBase = await realpath(base);
  let at = base;
  for (const segment of posix
    .normalize(rel)
    .split('/')
    .filter((s) => s !== '' && s !== '.')) {
    at = posix.join(at, segment);
    let st;
    try {
      st = await lstat(at);
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err;
      // Non-recursive: fails (EEXIST) rather than follows if a link appeared meanwhile.
      await mkdir(at, { mode });
      continue;
    }
    if (st.isSymbolicLink()) {
      const real = await realpath(at).catch(() => undefined);
      if (real === undefined || !isInside(realBase, real, true)) {
        throw new UnsafePathError(`${what} ${JSON.stringify(rel)}: "${at}" is a symlink out of "${realBase}"`, what, rel);
      }
    }
  }
}

/**
 * rm -rf of `path`, allowed only strictly inside `base` (never the base itself), and only when the
 * real path of its parent folder is inside the base's real path: a symlink planted in place of a
 * parent would carry the delete elsewhere. Nothing there: nothing to do.
 */
export async function removeInside(base: string, path: string, what = 'path'): Promise<void> {
  if (!isInside(base, path)) refuse(what, path, `is not inside "${base}"`);
  let realBase: string;
  let realParent: string;
  try {
    [realBase, realParent] = await Promise.all([realpath(base), realpath(posix.dirname(posix.resolve(path)))]);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return;
    throw err;
  }
  if (!isInside(realBase, realParent, true)) refuse(what, path, `its folder resolves to "${realParent}", outside "${realBase}"`);
  // rm removes a symlink at `path` itself, never what it points at.
  await rm(path, { recursive: true, force: true });
}
