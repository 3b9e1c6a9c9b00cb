// What managed containerd needs from the machine, and a clear report of what is missing, with
// the Debian package that provides it. The lookup is injectable (a function, or a PATH through
// `pathLookup`) so a test can pretend a binary is absent and read the message a user would get.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface Requirement {
  what: string;
  /** An absolute path, or a command looked up on PATH. */
  path: string;
  /** The Debian package that provides it. */
  pkg: string;
}

export const CNI_BIN_DIR = '/usr/lib/cni';

/** What starting and stopping a managed containerd needs. */
export const CONTAINERD_REQUIREMENTS: readonly Requirement[] = [
  { what: 'containerd', path: 'containerd', pkg: 'containerd' },
  { what: 'ctr (containerd client)', path: 'ctr', pkg: 'containerd' },
  { what: 'runc', path: 'runc', pkg: 'runc' },
  { what: 'CNI bridge plugin', path: join(CNI_BIN_DIR, 'bridge'), pkg: 'containernetworking-plugins' },
  { what: 'CNI host-local plugin', path: join(CNI_BIN_DIR, 'host-local'), pkg: 'containernetworking-plugins' },
  // containerd's CRI plugin sets up every pod's lo itself with this plugin (not in our conflist).
  { what: 'CNI loopback plugin', path: join(CNI_BIN_DIR, 'loopback'), pkg: 'containernetworking-plugins' },
  { what: 'CNI portmap plugin', path: join(CNI_BIN_DIR, 'portmap'), pkg: 'containernetworking-plugins' },
  // Removes the CNI bridge on stop.
  { what: 'ip (iproute2)', path: 'ip', pkg: 'iproute2' },
];

/** What building the local busybox and pause images needs. */
export const IMAGE_BUILD_REQUIREMENTS: readonly Requirement[] = [
  { what: 'busybox (static)', path: '/bin/busybox', pkg: 'busybox-static' },
  { what: 'umoci', path: 'umoci', pkg: 'umoci' },
];

export const ALL_REQUIREMENTS: readonly Requirement[] = [...CONTAINERD_REQUIREMENTS, ...IMAGE_BUILD_REQUIREMENTS];

/** Answers whether a requirement's path (absolute, or a command name) is an executable here. */
export type Lookup = (path: string) => boolean;

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A lookup over the given PATH (a colon-separated list of folders). */
export function pathLookup(pathEnv: string): Lookup {
  const dirs = pathEnv.split(delimiter).filter((d) => d !== '');
  return (path) => (path.startsWith('/') ? isExecutable(path) : dirs.some((d) => isExecutable(join(d, path))));
}

/** This process's PATH plus the sbin folders root has (containerd and runc live in /usr/bin, ip in /usr/sbin or /bin). */
export const systemLookup: Lookup = (path) => pathLookup([process.env['PATH'] ?? '', '/usr/sbin', '/sbin', '/usr/local/sbin'].join(delimiter))(path);

/** One line per missing requirement: "runc is not installed (apt-get install runc)". */
export function describeMissing(missing: readonly Requirement[]): string[] {
  return missing.map((m) => `${m.what} is not installed (apt-get install ${m.pkg})`);
}

export class ContainerdDepsError extends Error {
  readonly code = 'KTS_CONTAINERD_DEPS';
  constructor(readonly missing: readonly Requirement[]) {
    const pkgs = [...new Set(missing.map((m) => m.pkg))];
    super(
      `managed containerd cannot run: ${describeMissing(missing).join('; ')}. Install them all with: apt-get install -y ${pkgs.join(' ')} (or run scripts/ensure-deps.sh as root)`,
    );
    this.name = 'ContainerdDepsError';
  }
}

export function missingRequirements(reqs: readonly Requirement[], lookup: Lookup = systemLookup): Requirement[] {
  return reqs.filter((r) => !lookup(r.path));
}

/**
 * Which of containerd, ctr, runc, the CNI plugins, ip, busybox and umoci are missing (empty: all
 * there). Each entry names the Debian package to install.
 */
export function checkContainerdDeps(lookup: Lookup = systemLookup, reqs: readonly Requirement[] = ALL_REQUIREMENTS): Requirement[] {
  return missingRequirements(reqs, lookup);
}

/** Throws ContainerdDepsError naming everything missing. */
export function assertContainerdDeps(lookup: Lookup = systemLookup, reqs: readonly Requirement[] = ALL_REQUIREMENTS): void {
  const missing = missingRequirements(reqs, lookup);
  if (missing.length > 0) throw new ContainerdDepsError(missing);
}
