// What managed containerd needs from the machine, and a clear report of what is missing, with
// the Debian package that provides it. `lookup` is injectable so a test can pretend a binary is
// absent and read the message a user would get.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface Requirement {
  what: string;
  /** An absolute path, or a command looked up on PATH. */
  path: string;
  pkg: string;
}

export const CNI_BIN_DIR = '/usr/lib/cni';

export const CONTAINERD_REQUIREMENTS: readonly Requirement[] = [
  { what: 'containerd', path: 'containerd', pkg: 'containerd' },
  { what: 'ctr (containerd client)', path: 'ctr', pkg: 'containerd' },
  { what: 'runc', path: 'runc', pkg: 'runc' },
  { what: 'CNI bridge plugin', path: join(CNI_BIN_DIR, 'bridge'), pkg: 'containernetworking-plugins' },
  { what: 'CNI host-local plugin', path: join(CNI_BIN_DIR, 'host-local'), pkg: 'containernetworking-plugins' },
  { what: 'CNI loopback plugin', path: join(CNI_BIN_DIR, 'loopback'), pkg: 'containernetworking-plugins' },
  { what: 'CNI portmap plugin', path: join(CNI_BIN_DIR, 'portmap'), pkg: 'containernetworking-plugins' },
];

export const IMAGE_BUILD_REQUIREMENTS: readonly Requirement[] = [
  { what: 'busybox (static)', path: '/bin/busybox', pkg: 'busybox-static' },
  { what: 'umoci', path: 'umoci', pkg: 'umoci' },
];

export type Lookup = (path: string) => boolean;

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds an absolute path, or a command on PATH (plus the sbin folders root has). */
export const systemLookup: Lookup = (path) => {
  if (path.startsWith('/')) return isExecutable(path);
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  return dirs.some((d) => d !== '' && isExecutable(join(d, path)));
};

export class ContainerdDepsError extends Error {
  readonly code = 'KTS_CONTAINERD_DEPS';
  constructor(readonly missing: readonly Requirement[]) {
    const pkgs = [...new Set(missing.map((m) => m.pkg))];
    super(`managed containerd cannot start: ${missing.map((m) => `${m.what} is not installed (${m.path})`).join('; ')}. Install with: apt-get install -y ${pkgs.join(' ')}`);
    this.name = 'ContainerdDepsError';
  }
}

export function missingRequirements(reqs: readonly Requirement[], lookup: Lookup = systemLookup): Requirement[] {
  return reqs.filter((r) => !lookup(r.path));
}

/** Throws ContainerdDepsError naming everything missing. */
export function checkContainerdDeps(lookup: Lookup = systemLookup, reqs: readonly Requirement[] = CONTAINERD_REQUIREMENTS): void {
  const missing = missingRequirements(reqs, lookup);
  if (missing.length > 0) throw new ContainerdDepsError(missing);
}
