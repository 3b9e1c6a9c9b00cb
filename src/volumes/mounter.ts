// Host mounts the volume code makes: tmpfs for emptyDir with medium Memory and for the volumes
// upstream keeps off disk (secret, projected), and their unmounting at tear-down. Through
// mount(8) and umount(8) (the kubelet runs as root, as upstream); the mount table is read from
// /proc/self/mounts so a restarted kubelet sees what an earlier run mounted.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { MountFailedError, errorMessage } from './errors.js';

const run = promisify(execFile);

export interface Mounter {
  /** Mounts a tmpfs on `dir` (which exists); `sizeBytes` caps it. */
  mountTmpfs(dir: string, opts?: { sizeBytes?: number; mode?: number }): Promise<void>;
  unmount(dir: string): Promise<void>;
  /** Mount points equal to or below `dir`, deepest first. */
  mountPointsUnder(dir: string): Promise<string[]>;
}

/** /proc/mounts escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export async function readMountPoints(table = '/proc/self/mounts'): Promise<string[]> {
  const text = await readFile(table, 'utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const field = line.split(' ')[1];
    if (field) out.push(unescapeMountPath(field));
  }
  return out;
}

export class HostMounter implements Mounter {
  async mountTmpfs(dir: string, opts: { sizeBytes?: number; mode?: number } = {}): Promise<void> {
    const options = [`mode=${(opts.mode ?? 0o777).toString(8).padStart(4, '0')}`];
    if (opts.sizeBytes !== undefined) options.push(`size=${Math.max(1, Math.ceil(opts.sizeBytes))}`);
    try {
      await run('mount', ['-t', 'tmpfs', '-o', options.join(','), 'tmpfs', dir]);
    } catch (err) {
      throw new MountFailedError(`mount -t tmpfs on ${dir} failed: ${errorMessage(err).trim()}`, { cause: err });
    }
  }

  async unmount(dir: string): Promise<void> {
    try {
      await run('umount', [dir]);
    } catch (err) {
      // Busy (a process still holds it): detach it lazily so the folder can go; the memory is
      // freed when the last user lets go.
      try {
        await run('umount', ['-l', dir]);
      } catch {
        throw new MountFailedError(`umount ${dir} failed: ${errorMessage(err).trim()}`, { cause: err });
      }
    }
  }

  async mountPointsUnder(dir: string): Promise<string[]> {
    const prefix = dir.endsWith('/') ? dir : `${dir}/`;
    const points = (await readMountPoints()).filter((p) => p === dir || p.startsWith(prefix));
    return [...new Set(points)].sort((a, b) => b.length - a.length);
  }
}
