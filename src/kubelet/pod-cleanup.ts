// What the node removes once a pod is gone for good (its worker terminated and its sandboxes
// removed): its log folder (upstream removes it with the last sandbox), its cgroup (retried for
// a while: runc may still be tearing down), its managed /etc/hosts and its volumes. Every path
// is built under its base (etcHostsPath refuses a UID that is no plain component), so nothing
// outside the pods and log folders is touched; failures are logged, and the housekeeping sweep
// removes what is left.
import type { Logger } from 'pino';
import type { Pod } from '../api/core-v1.js';
import type { QosCgroupManager } from '../native/cgroups.js';
import { etcHostsPath } from '../pods/etc-hosts.js';
import { removePodLogFolder } from '../pods/leftovers.js';
import { removeInside } from '../util/safe-path.js';
import { podsDir } from '../volumes/paths.js';
import type { VolumeManager } from '../volumes/volume-manager.js';

export interface PodCleanupOptions {
  rootDir: string;
  podLogsDir: string;
  cgroups: QosCgroupManager | undefined;
  volumes: VolumeManager;
  logger: Logger;
  /** Cgroup removal attempts, 1 s apart. */
  cgroupAttempts?: number;
}

export function podCleanup(o: PodCleanupOptions): (uid: string, pod: Pod) => void {
  const log = o.logger;
  const removeCgroup = (uid: string, attemptsLeft: number): void => {
    const errors = o.cgroups?.removePod(uid) ?? [];
    if (errors.length === 0) return;
    if (attemptsLeft > 0) setTimeout(() => removeCgroup(uid, attemptsLeft - 1), 1000).unref();
    else log.warn({ uid, errors }, 'pod cgroup not removed');
  };
  return (uid, pod) => {
    void removePodLogFolder(o.podLogsDir, pod.metadata.namespace ?? 'default', pod.metadata.name ?? '', uid).catch((err: unknown) =>
      log.warn({ uid, err: (err as Error).message }, 'pod log folder not removed'),
    );
    removeCgroup(uid, o.cgroupAttempts ?? 10);
    // The hosts file goes first, so the tear-down can remove the emptied pod folder.
    void Promise.resolve()
      .then(() => removeInside(podsDir(o.rootDir), etcHostsPath(o.rootDir, uid), 'pod etc-hosts'))
      .catch((err: unknown) => log.warn({ uid, err: (err as Error).message }, 'pod etc-hosts not removed'))
      .then(() => o.volumes.tearDown(uid))
      .catch((err: unknown) => log.warn({ uid, err: (err as Error).message }, 'pod volumes not torn down'));
  };
}
