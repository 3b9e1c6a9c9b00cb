// The QoS and pod cgroups of the node (cgroup v1, cgroupfs driver), as upstream's container
// manager keeps them: `<root>/kubepods`, `<root>/kubepods/burstable`, `<root>/kubepods/besteffort`
// and one `pod<uid>` per pod (Guaranteed pods directly under kubepods), with the pod's cpu
// shares, CFS quota and memory limit written to its cpu and memory controllers. The sandbox gets
// the pod cgroup as its cgroup parent, so runc places every container of the pod under it.
//
// Owns the directories it creates under each v1 hierarchy found in /proc/self/mountinfo; the
// per-container cgroups below a pod are runc's. Assumes the hierarchies are mounted with their
// root visible (mount root '/', as on a host and in this lab's containers, where the kubelet's
// own memory cgroup is elsewhere, e.g. /process_api/...: pods are placed by --cgroup-root,
// never relative to the kubelet's own cgroup). Every write is best effort: a host without a
// controller still runs pods, and the failures are returned for the caller to log.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PodCgroupConfig } from '../pods/resources.js';

export interface CgroupMount {
  /** Controllers of this hierarchy (e.g. ['cpu'], ['memory'], ['name=systemd']). */
  controllers: string[];
  mountPoint: string;
  /** The hierarchy path the mount shows at its mount point ('/' when the whole tree is visible). */
  root: string;
}

/**
 * The cgroup v1 hierarchies of this process's mount namespace, plus the cgroup2 'unified'
 * hierarchy of a hybrid host (controllers ['cgroup2']): runc makes the pod's path there too,
 * so removal has to visit it.
 */
export function cgroupV1Mounts(mountinfo = '/proc/self/mountinfo'): CgroupMount[] {
  let text: string;
  try {
    text = readFileSync(mountinfo, 'utf8');
  } catch {
    return [];
  }
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const [fstype, , superOpts] = post.split(' ');
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const fields = pre.split(' ');
    const root = fields[3];
    const mountPoint = fields[4];
    if (!root || !mountPoint) continue;
    const controllers = (superOpts ?? '')
      .split(',')
      .filter(
        (o) =>
          o !== 'rw' &&
          o !== 'ro' &&
          !o.startsWith('relatime') &&
          o !== 'nosuid' &&
          o !== 'nodev' &&
          o !== 'noexec' &&
          o !== 'clone_children' &&
          !o.startsWith('release_agent'),
      );
    out.push({ controllers: fstype === 'cgroup2' ? ['cgroup2'] : controllers, mountPoint, root });
  }
  return out;
}

export class CgroupError extends Error {
  readonly code = 'KTS_CGROUP';
}

export interface QosCgroupManagerOptions {
  /** Absolute hierarchy paths ('/kubepods/burstable/pod<uid>') come from resources.podCgroupParent. */
  mounts?: CgroupMount[];
}

/** Where a hierarchy path lives on disk in one mount, or undefined when the mount cannot see it. */
export function cgroupDir(m: CgroupMount, path: string): string | undefined {
  // Pod cgroup paths carry the pod UID: one with '..' would reach folders outside the hierarchy.
  if (path.split('/').includes('..') || path.includes('\0')) return undefined;
  const root = m.root === '/' ? '' : m.root.replace(/\/+$/, '');
  if (root && path !== root && !path.startsWith(`${root}/`)) return undefined;
  return join(m.mountPoint, path.slice(root.length));
}

export class QosCgroupManager {
  readonly mounts: CgroupMount[];
  /** Pod UID -> its cgroup path and config, for removal and the burstable tier's shares. */
  private readonly pods = new Map<string, { path: string; config: PodCgroupConfig; qos: string }>();

  constructor(opts: QosCgroupManagerOptions = {}) {
    this.mounts = opts.mounts ?? cgroupV1Mounts();
  }

  private mount(controller: string): CgroupMount | undefined {
    return this.mounts.find((m) => m.controllers.includes(controller));
  }

  /** The host directory of `path` in `controller`'s hierarchy. */
  dirOf(controller: string, path: string): string | undefined {
    const m = this.mount(controller);
    return m ? cgroupDir(m, path) : undefined;
  }

  private write(controller: string, path: string, file: string, value: string | number, errors: string[]): void {
    const dir = this.dirOf(controller, path);
    if (!dir) return;
    try {
      writeFileSync(join(dir, file), String(value));
    } catch (err) {
      errors.push(`${controller}:${path}/${file}=${value}: ${(err as Error).message}`);
    }
  }

  private mkdir(path: string, errors: string[]): void {
    // cpu, cpuacct, memory and pids carry what we set (or count); the other controllers' dirs
    // are left to runc, which creates (and fills, for cpuset) the parents it needs.
    for (const c of ['cpu', 'cpuacct', 'memory', 'pids']) {
      const dir = this.dirOf(c, path);
      if (!dir || existsSync(dir)) continue;
      try {
        mkdirSync(dir, { recursive: true });
      } catch (err) {
        errors.push(`${c}:${path}: ${(err as Error).message}`);
      }
    }
  }

  /**
   * Makes the pod's cgroup (and the QoS tiers above it) and writes its limits. Idempotent: a
   * pod already set up is left as it is (a pod's resources never change).
   */
  ensurePod(uid: string, path: string, config: PodCgroupConfig): string[] {
    const errors: string[] = [];
    if (!path || this.pods.get(uid)?.path === path) return errors;
    const parts = path.split('/').filter(Boolean);
    const kubepodsAt = parts.indexOf('kubepods');
    const tiers: string[] = [];
    if (kubepodsAt >= 0) {
      const base = `/${parts.slice(0, kubepodsAt + 1).join('/')}`;
      tiers.push(base, `${base}/burstable`, `${base}/besteffort`);
    }
    for (const t of tiers) this.mkdir(t, errors);
    if (tiers[2]) this.write('cpu', tiers[2], 'cpu.shares', 2, errors);
    this.mkdir(path, errors);
    this.write('cpu', path, 'cpu.shares', config.cpuShares, errors);
    if (config.cpuPeriod !== undefined) this.write('cpu', path, 'cpu.cfs_period_us', config.cpuPeriod, errors);
    this.write('cpu', path, 'cpu.cfs_quota_us', config.cpuQuota !== undefined && config.cpuQuota > 0 ? config.cpuQuota : -1, errors);
    if (config.memoryLimitBytes !== undefined && config.memoryLimitBytes > 0)
      this.write('memory', path, 'memory.limit_in_bytes', config.memoryLimitBytes, errors);
    const qos = parts.includes('burstable') ? 'burstable' : parts.includes('besteffort') ? 'besteffort' : 'guaranteed';
    this.pods.set(uid, { path, config, qos });
    if (qos === 'burstable' && tiers[1]) this.updateBurstableShares(tiers[1], errors);
    return errors;
  }

  /** Upstream gives the burstable tier the sum of its pods' cpu requests as shares (at least 2). */
  private updateBurstableShares(tier: string, errors: string[]): void {
    let shares = 0;
    for (const p of this.pods.values()) if (p.qos === 'burstable' && p.path.startsWith(`${tier}/`)) shares += p.config.cpuShares;
    this.write('cpu', tier, 'cpu.shares', Math.max(2, shares), errors);
  }

  /**
   * Removes a gone pod's cgroup in every hierarchy (its containers' cgroups are gone with them,
   * or about to be: runc may still be cleaning up, so on errors the pod stays known and a later
   * call retries).
   */
  removePod(uid: string): string[] {
    const errors: string[] = [];
    const p = this.pods.get(uid);
    if (!p) return errors;
    for (const m of this.mounts) {
      const dir = cgroupDir(m, p.path);
      if (dir) removeTree(dir, errors);
    }
    if (errors.length > 0) return errors;
    this.pods.delete(uid);
    if (p.qos === 'burstable') this.updateBurstableShares(p.path.slice(0, p.path.lastIndexOf('/')), errors);
    return errors;
  }

  /** The pods this manager set up (UID -> cgroup path). */
  podPaths(): Map<string, string> {
    return new Map([...this.pods].map(([uid, p]) => [uid, p.path]));
  }
}

/** rmdir depth-first: a cgroup directory goes only when it has no children and no tasks. */
export function removeTree(dir: string, errors: string[] = []): string[] {
  if (!existsSync(dir)) return errors;
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name), errors);
    rmdirSync(dir);
  } catch (err) {
    errors.push(`${dir}: ${(err as Error).message}`);
  }
  return errors;
}
