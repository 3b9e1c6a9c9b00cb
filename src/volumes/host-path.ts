// hostPath volumes: a path of the node mounted straight into containers; nothing is made under
// the pod's folder. The type check is upstream's checkType: "" checks nothing,
// DirectoryOrCreate / FileOrCreate make what is missing (0755 folder, 0644 empty file),
// Directory, File, Socket, CharDevice and BlockDevice require an existing path of that kind
// (symlinks followed), with upstream's error words.
import { mkdir, open, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { posix } from 'node:path';
import { HostPathTypeError, InvalidVolumeSpecError } from './errors.js';

export interface HostPathVolumeSource {
  path?: string;
  type?: string;
}

async function statOf(p: string): Promise<Stats | undefined> {
  try {
    return await stat(p);
  } catch {
    return undefined;
  }
}

/** Checks (or creates) the host path as `type` asks; returns the path to mount. */
export async function setUpHostPath(source: HostPathVolumeSource): Promise<string> {
  const p = source.path ?? '';
  if (p === '') throw new InvalidVolumeSpecError('hostPath volume without path');
  if (!posix.isAbsolute(p)) throw new InvalidVolumeSpecError(`hostPath ${p} must be an absolute path`);
  if (p.split('/').includes('..')) throw new InvalidVolumeSpecError(`hostPath ${p}: must not contain '..'`);
  const type = source.type ?? '';
  const st = await statOf(p);
  switch (type) {
    case '':
      return p;
    case 'DirectoryOrCreate':
      if (!st) {
        await mkdir(p, { recursive: true, mode: 0o755 });
        return p;
      }
      if (!st.isDirectory()) throw new HostPathTypeError(`hostPath type check failed: ${p} is not a directory`);
      return p;
    case 'Directory':
      if (!st?.isDirectory()) throw new HostPathTypeError(`hostPath type check failed: ${p} is not a directory`);
      return p;
    case 'FileOrCreate':
      if (!st) {
        try {
          await (await open(p, 'a', 0o644)).close();
        } catch (err) {
          throw new HostPathTypeError(`hostPath type check failed: could not create file ${p}: ${(err as Error).message}`, { cause: err });
        }
        return p;
      }
      if (!st.isFile()) throw new HostPathTypeError(`hostPath type check failed: ${p} is not a file`);
      return p;
    case 'File':
      if (!st?.isFile()) throw new HostPathTypeError(`hostPath type check failed: ${p} is not a file`);
      return p;
    case 'Socket':
      if (!st?.isSocket()) throw new HostPathTypeError(`hostPath type check failed: ${p} is not a socket file`);
      return p;
    case 'CharDevice':
      if (!st?.isCharacterDevice()) throw new HostPathTypeError(`hostPath type check failed: ${p} is not a character device`);
      return p;
    case 'BlockDevice':
      if (!st?.isBlockDevice()) throw new HostPathTypeError(`hostPath type check failed: ${p} is not a block device`);
      return p;
    default:
      throw new HostPathTypeError(`${type} is an invalid volume type`);
  }
}
