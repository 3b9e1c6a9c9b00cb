// The volume manager (main thread): prepares every volume of a pod on the host before its sync,
// keeps secret/configMap/downwardAPI/projected content current, rotates service account tokens,
// and removes a pod's volumes once the pod is gone. Owns everything under
// <root-dir>/pods/<uid>/volumes/ and the tmpfs mounts there.
//
//   setUp(pod)     idempotent, called before every sync: cheap when nothing changed (objects
//                  from a TTL cache, payloads compared by fingerprint in memory, no disk I/O);
//   refresh timer  every `refreshIntervalMs` (60 s, as upstream's periodic pod sync) re-runs
//                  setUp for every known pod, so updates reach pods that are not syncing;
//   tearDown(uid)  unmounts what is mounted under the pod's folder, then removes its volumes.
//
// Failures: a volume that was never set up is an error (the pod cannot start; the caller makes
// a FailedMount event of it). A refresh that fails on a volume already set up keeps the old
// content and is a warning, as upstream keeps a mounted volume mounted.
// Work on one pod is serialized (sync and timer never write one volume at once); pods run in
// parallel. Assumes one kubelet per root dir.
import { createHash } from 'node:crypto';
import { mkdir, readdir, rmdir, stat } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import type { Logger } from 'pino';
import type { Pod, Volume } from '../api/core-v1.js';
import { systemClock, type Clock } from '../pods/backoff.js';
import { silentLogger } from '../log.js';
import { AtomicWriter, type Payload } from './atomic-writer.js';
import { configMapVolumePayload, type ConfigMapVolumeSource } from './configmap.js';
import { downwardAPIVolumePayload, type DownwardAPIVolumeSource } from './downward-api.js';
import { setUpEmptyDir, type EmptyDirVolumeSource } from './empty-dir.js';
import { FetchFailedError, MountFailedError, NoObjectSourceError, UnsupportedVolumeError, errorMessage, isVolumeError } from './errors.js';
import { setUpHostPath, type HostPathVolumeSource } from './host-path.js';
import { fsGroupOf, setVolumeOwnership } from './ownership.js';
import { HostMounter, type Mounter } from './mounter.js';
import { validateSubPath, type PodVolumes, type PreparedVolume } from './mounts.js';
import type { ObjectReader, VolumeObjectSource } from './objects.js';
import { ObjectCache } from './object-cache.js';
import { podContainersDir, podDir, podsDir, podVolumesDir, VOLUME_KINDS, volumeDir, type VolumeKind } from './paths.js';
import { projectedVolumePayload, type ProjectedVolumeSource, type TokenGetter } from './projected.js';
import type { NodeAllocatable } from './resources.js';
import { secretVolumePayload, type SecretVolumeSource } from './secret.js';
import { componentProblem, isUnsafePathError, joinRelative, mkdirInside, realPathInside, removeInside, UNSAFE_PATH } from '../util/safe-path.js';

export interface VolumeManagerOptions {
  /** The kubelet's --root-dir. */
  rootDir: string;
  /** API objects; without it (standalone) only emptyDir and hostPath volumes work. */
  objects?: VolumeObjectSource;
  logger?: Logger;
  clock?: Clock;
  /** How long a read secret/configMap serves other pods (default 10 s). */
  objectCacheTtlMs?: number;
  /** Period of the refresh timer (default 60 s). */
  refreshIntervalMs?: number;
  /** Keep secret and projected volumes on tmpfs, never on disk, as upstream (default true). */
  memoryBackedSecrets?: boolean;
  /** For resourceFieldRef of containers without limits (default: this machine's cores and memory). */
  nodeAllocatable?: NodeAllocatable;
  mounter?: Mounter;
}

export interface VolumeFailure {
  volume: string;
  code: string;
  /** Upstream's event text: `MountVolume.SetUp failed for volume "x" : <reason>`. */
  message: string;
}

export interface VolumeSetUpResult {
  /** Every volume that is ready (plain data: goes to the sync task). */
  volumes: PodVolumes;
  /** Volume name -> host path, for the ready volumes. */
  mounts: Map<string, string>;
  /** Volumes not ready: the pod must not start. */
  errors: VolumeFailure[];
  /** Refreshes that failed on ready volumes: the old content stays. */
  warnings: VolumeFailure[];
}

interface VolumeState {
  kind: VolumeKind;
  prepared: PreparedVolume;
  ready: boolean;
  /** Fingerprint of the payload last written (atomic-writer volumes). */
  fingerprint: string | undefined;
}

interface TokenState {
  token: string;
  issuedAt: number;
  expiresAt: number;
}

interface PodState {
  pod: Pod;
  firstSeenAt: number;
  volumes: Map<string, VolumeState>;
  tokens: Map<string, TokenState>;
  /** Serializes work on this pod. */
  chain: Promise<unknown>;
  /** Torn down: a set-up queued behind the tear-down (the timer) must not bring volumes back. */
  gone: boolean;
}

const MAX_TOKEN_AGE_MS = 24 * 3600_000;
const REFRESHABLE: ReadonlySet<VolumeKind> = new Set(['secret', 'configMap', 'downwardAPI', 'projected']);

/** The volume's kind: the first known source field; none at all defaults to emptyDir (API defaulting). */
export function volumeKind(v: Volume): VolumeKind {
  for (const k of VOLUME_KINDS) if (v[k] !== undefined && v[k] !== null) return k;
  const other = Object.keys(v).find((k) => k !== 'name');
  if (other) throw new UnsupportedVolumeError(`volume type "${other}" is not supported by kubelet-ts`);
  return 'emptyDir';
}

function fingerprint(payload: Payload): string {
  const h = createHash('sha256');
  for (const k of [...payload.keys()].sort()) {
    const f = payload.get(k);
    if (!f) continue;
    h.update(`${k}\0${f.mode}\0${f.data.length}\0`);
    h.update(f.data);
  }
  return h.digest('hex');
}

function failure(volume: string, err: unknown): VolumeFailure {
  const code = isVolumeError(err) || isUnsafePathError(err) ? err.code : 'KTS_VOLUME_SETUP';
  return { volume, code, message: `MountVolume.SetUp failed for volume "${volume}" : ${errorMessage(err)}` };
}

export class VolumeManager {
  private readonly pods = new Map<string, PodState>();
  private readonly cache: ObjectCache;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly mounter: Mounter;
  readonly nodeAllocatable: NodeAllocatable;
  private timer: NodeJS.Timeout | undefined;
  /** TokenRequests sent (tests and metrics). */
  tokenRequests = 0;

  constructor(private readonly opts: VolumeManagerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.logger ?? silentLogger).child({ actor: 'volume-manager' });
    this.cache = new ObjectCache(opts.objects, opts.objectCacheTtlMs ?? 10_000, this.clock);
    this.mounter = opts.mounter ?? new HostMounter();
    this.nodeAllocatable = opts.nodeAllocatable ?? { cpu: cpus().length, memory: totalmem(), ephemeralStorage: 0 };
  }

  /** The cached object reader (for env from configMaps and secrets). */
  reader(freshSince?: number): ObjectReader {
    return this.cache.reader(freshSince);
  }

  /** The reader for a pod's env: answers no older than the first time this manager saw the pod. */
  readerFor(pod: Pod): ObjectReader {
    return this.cache.reader(this.pods.get(pod.metadata.uid ?? '')?.firstSeenAt ?? this.clock.now());
  }

  get objectFetches(): number {
    return this.cache.fetches;
  }

  /** Starts the periodic refresh. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refreshAll(), this.opts.refreshIntervalMs ?? 60_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Pod UIDs with volumes set up by this manager. */
  known(): string[] {
    return [...this.pods.keys()];
  }

  /** Re-reads the content of every known pod's volumes (the timer's work). */
  async refreshAll(): Promise<void> {
    await Promise.all(
      [...this.pods.values()]
        .filter((p) => [...p.volumes.values()].some((v) => REFRESHABLE.has(v.kind)))
        .map(async (p) => {
          const r = await this.setUp(p.pod).catch((err: unknown) => ({ errors: [failure('*', err)], warnings: [] }));
          for (const f of [...r.errors, ...r.warnings])
            this.log.warn(
              { pod: `${p.pod.metadata.namespace ?? 'default'}/${p.pod.metadata.name ?? ''}`, volume: f.volume, err: f.message },
              'volume refresh failed',
            );
        }),
    );
  }

  /** Prepares every volume of `pod`; idempotent. */
  setUp(pod: Pod): Promise<VolumeSetUpResult> {
    const uid = pod.metadata.uid ?? '';
    // The UID names the pod's folder: one that is no plain path component is never registered
    // (no refresh, no tear-down of a folder somewhere else), and the pod cannot start.
    const bad = componentProblem(uid);
    if (bad !== undefined) {
      return Promise.resolve({
        volumes: {},
        mounts: new Map(),
        errors: [
          { volume: '*', code: UNSAFE_PATH, message: `pod uid ${JSON.stringify(uid)} cannot name a folder under ${podsDir(this.opts.rootDir)}: ${bad}` },
        ],
        warnings: [],
      });
    }
    let st = this.pods.get(uid);
    if (!st) {
      st = { pod, firstSeenAt: this.clock.now(), volumes: new Map(), tokens: new Map(), chain: Promise.resolve(), gone: false };
      this.pods.set(uid, st);
    }
    st.pod = pod;
    const s = st;
    const run = s.chain.then(() => this.doSetUp(s));
    s.chain = run.catch(() => undefined);
    return run;
  }

  private async doSetUp(st: PodState): Promise<VolumeSetUpResult> {
    const pod = st.pod;
    const result: VolumeSetUpResult = { volumes: {}, mounts: new Map(), errors: [], warnings: [] };
    if (st.gone) {
      result.errors.push({ volume: '*', code: 'KTS_VOLUME_TORN_DOWN', message: `pod ${pod.metadata.uid ?? ''}: volumes already torn down` });
      return result;
    }
    await Promise.all(
      (pod.spec.volumes ?? []).map(async (v) => {
        const prev = st.volumes.get(v.name);
        try {
          const vs = await this.setUpVolume(st, v, prev);
          st.volumes.set(v.name, vs);
        } catch (err) {
          if (prev?.ready) result.warnings.push(failure(v.name, err));
          else result.errors.push(failure(v.name, err));
        }
      }),
    );
    for (const v of pod.spec.volumes ?? []) {
      const vs = st.volumes.get(v.name);
      if (!vs?.ready) continue;
      result.volumes[v.name] = { ...vs.prepared };
      result.mounts.set(v.name, vs.prepared.hostPath);
    }
    await this.prepareSubPaths(pod, result.volumes);
    return result;
  }

  private async setUpVolume(st: PodState, v: Volume, prev: VolumeState | undefined): Promise<VolumeState> {
    const kind = volumeKind(v);
    const uid = st.pod.metadata.uid ?? '';
    const source: unknown = v[kind] ?? {};
    if (kind === 'hostPath') {
      if (prev?.ready) return prev;
      const hostPath = await setUpHostPath(source as HostPathVolumeSource);
      return { kind, prepared: { hostPath, readOnly: false }, ready: true, fingerprint: undefined };
    }
    const dir = volumeDir(this.opts.rootDir, uid, kind, v.name);
    if (kind === 'emptyDir') {
      if (prev?.ready) return prev;
      await setUpEmptyDir(dir, source as EmptyDirVolumeSource, this.mounter);
      const fsGroup = fsGroupOf(st.pod);
      if (fsGroup !== undefined) await setVolumeOwnership(dir, fsGroup, false);
      return { kind, prepared: { hostPath: dir, readOnly: false }, ready: true, fingerprint: undefined };
    }
    // Atomic-writer volumes: read first, so a missing object leaves nothing behind on disk.
    const payload = await this.payloadOf(st, kind, source, prev?.ready === true);
    const fp = fingerprint(payload);
    if (prev?.ready && prev.fingerprint === fp) return prev;
    if (!prev?.ready) {
      await mkdir(dir, { recursive: true, mode: 0o750 });
      if ((kind === 'secret' || kind === 'projected') && this.opts.memoryBackedSecrets !== false && !(await this.mounter.mountPointsUnder(dir)).includes(dir)) {
        await this.mounter.mountTmpfs(dir, { mode: 0o755 });
      }
    }
    const w = await new AtomicWriter(dir).write(payload);
    const fsGroup = fsGroupOf(st.pod);
    if (fsGroup !== undefined && (w.written || !prev?.ready)) await setVolumeOwnership(dir, fsGroup, true);
    if (w.written)
      this.log.info(
        { pod: `${st.pod.metadata.namespace ?? 'default'}/${st.pod.metadata.name ?? ''}`, volume: v.name, kind, removed: w.removed },
        'volume content written',
      );
    return { kind, prepared: { hostPath: dir, readOnly: true }, ready: true, fingerprint: fp };
  }

  private payloadOf(st: PodState, kind: 'secret' | 'configMap' | 'downwardAPI' | 'projected', source: unknown, ready: boolean): Promise<Payload> {
    // A volume's first content must be no older than the pod; refreshes take the TTL cache.
    const reader = this.cache.reader(ready ? undefined : st.firstSeenAt);
    switch (kind) {
      case 'secret':
        return secretVolumePayload(st.pod, source as SecretVolumeSource, reader);
      case 'configMap':
        return configMapVolumePayload(st.pod, source as ConfigMapVolumeSource, reader);
      case 'downwardAPI':
        return Promise.resolve(downwardAPIVolumePayload(st.pod, source as DownwardAPIVolumeSource, this.nodeAllocatable));
      case 'projected':
        return projectedVolumePayload(st.pod, source as ProjectedVolumeSource, reader, this.tokenGetter(st), this.nodeAllocatable);
    }
  }

  /** Tokens per pod, audiences and lifetime; renewed at 80% of their lifetime or after 24 h. */
  private tokenGetter(st: PodState): TokenGetter {
    return async (req) => {
      const key = `${req.audiences.join(',')}|${req.expirationSeconds}`;
      const now = this.clock.now();
      const have = st.tokens.get(key);
      if (have && now < have.issuedAt + Math.min((have.expiresAt - have.issuedAt) * 0.8, MAX_TOKEN_AGE_MS)) return have.token;
      const source = this.opts.objects;
      const pod = st.pod;
      const ns = pod.metadata.namespace ?? 'default';
      const sa = pod.spec.serviceAccountName || 'default';
      if (!source) throw new NoObjectSourceError(`cannot request a token for service account ${ns}/${sa}: no kubeClient defined`);
      try {
        this.tokenRequests++;
        const issued = await source.requestToken(ns, sa, {
          audiences: req.audiences,
          expirationSeconds: req.expirationSeconds,
          boundPod: { name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' },
        });
        const expiresAt = Date.parse(issued.expirationTimestamp);
        const t: TokenState = { token: issued.token, issuedAt: now, expiresAt: Number.isFinite(expiresAt) ? expiresAt : now + req.expirationSeconds * 1000 };
        st.tokens.set(key, t);
        return t.token;
      } catch (err) {
        if (have && now < have.expiresAt) {
          this.log.warn(
            { pod: `${ns}/${pod.metadata.name ?? ''}`, serviceAccount: sa, err: errorMessage(err) },
            'token rotation failed; keeping the current token',
          );
          return have.token;
        }
        throw new FetchFailedError(`failed to fetch token: ${errorMessage(err)}`, { cause: err });
      }
    };
  }

  /**
   * subPaths of writable volumes (emptyDir, hostPath) are made when missing, as upstream; every
   * subPath that resolves (through symlinks) outside its volume is refused.
   */
  private async prepareSubPaths(pod: Pod, volumes: PodVolumes): Promise<void> {
    for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
      for (const m of c.volumeMounts ?? []) {
        const vol = Object.hasOwn(volumes, m.name) ? volumes[m.name] : undefined;
        if (!m.subPath || !vol) continue;
        let rel: string;
        try {
          rel = validateSubPath(m.subPath);
        } catch {
          continue; // containerMounts reports it
        }
        try {
          const full = joinRelative(vol.hostPath, rel, 'subPath');
          if (!vol.readOnly) {
            const exists = await stat(full).then(
              () => true,
              () => false,
            );
            // mkdirInside, not mkdir -p: the container may have planted a symlink on the way.
            if (!exists) await mkdirInside(vol.hostPath, rel, (await stat(vol.hostPath)).mode & 0o7777, 'subPath');
          }
          // Checked again when the container is created (mounts.ts resolveSubPathMounts): the
          // container can change its volume in between.
          await realPathInside(vol.hostPath, rel, 'subPath', { path: 'subpath', base: 'volume path' }).catch((err: unknown) => {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // missing: reported at use
          });
        } catch (err) {
          const why = isUnsafePathError(err) ? errorMessage(err) : `failed to prepare subPath "${m.subPath}" for volume "${m.name}": ${errorMessage(err)}`;
          vol.subPathErrors = { ...vol.subPathErrors, [m.subPath]: why };
        }
      }
    }
  }

  /** Unmounts and removes the pod's volumes (after the pod is terminated and removed). */
  tearDown(uid: string): Promise<void> {
    const st = this.pods.get(uid);
    const previous = st?.chain ?? Promise.resolve();
    const run = previous.then(() => this.doTearDown(uid));
    if (st) st.chain = run.catch(() => undefined);
    return run;
  }

  private async doTearDown(uid: string): Promise<void> {
    const st = this.pods.get(uid);
    if (st) st.gone = true;
    // Throws (UnsafePathError) for a UID that is no plain component: nothing is removed then.
    const pods = podsDir(this.opts.rootDir);
    const dir = podVolumesDir(this.opts.rootDir, uid);
    for (const p of await this.mounter.mountPointsUnder(dir)) await this.mounter.unmount(p);
    const left = await this.mounter.mountPointsUnder(dir);
    // Never remove a folder with something still mounted below it: that would delete its content.
    if (left.length > 0) throw new MountFailedError(`pod ${uid}: still mounted after unmount: ${left.join(', ')}`);
    await removeInside(pods, dir, 'pod volumes folder');
    // The termination-message files of the pod's containers (src/pods/termination-message.ts).
    await removeInside(pods, podContainersDir(this.opts.rootDir, uid), 'pod containers folder');
    await rmdir(podDir(this.opts.rootDir, uid)).catch(() => undefined);
    this.pods.delete(uid);
    this.log.info({ uid }, 'pod volumes removed');
  }

  /**
   * Upstream's cleanupOrphanedPodDirs: the whole `<root-dir>/pods/<uid>` folder of each pod
   * `keep` does not hold (not desired, not known to the runtime; the caller asks once every
   * source is ready). Its volumes are torn down first; a folder with anything still mounted
   * below it is left alone (removing it would delete the mounted content) and retried next round.
   */
  async removeOrphanedPodDirs(keep: (uid: string) => boolean): Promise<string[]> {
    const pods = podsDir(this.opts.rootDir);
    let uids: string[];
    try {
      uids = await readdir(pods);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const uid of uids) {
      if (componentProblem(uid) !== undefined || keep(uid) || this.pods.get(uid)?.gone === false) continue;
      const dir = podDir(this.opts.rootDir, uid);
      try {
        await this.tearDown(uid);
        const mounted = await this.mounter.mountPointsUnder(dir);
        if (mounted.length > 0) {
          this.log.warn({ uid, mounted }, 'orphaned pod folder still has mounts; not removed');
          continue;
        }
        await removeInside(pods, dir, 'orphaned pod folder');
        removed.push(uid);
        this.log.info({ uid }, 'orphaned pod folder removed');
      } catch (err) {
        this.log.warn({ uid, err: errorMessage(err) }, 'could not remove an orphaned pod folder');
      }
    }
    return removed;
  }

  /** Tears down volume folders of pods not in `keep` (after a restart: pods gone meanwhile). */
  async tearDownOrphans(keep: ReadonlySet<string>): Promise<string[]> {
    let uids: string[];
    try {
      uids = await readdir(podsDir(this.opts.rootDir));
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const uid of uids) {
      if (keep.has(uid) || this.pods.get(uid)?.gone === false) continue;
      const exists = (p: string): Promise<boolean> =>
        stat(p).then(
          () => true,
          () => false,
        );
      const has = (await exists(podVolumesDir(this.opts.rootDir, uid))) || (await exists(podContainersDir(this.opts.rootDir, uid)));
      if (!has) continue;
      try {
        await this.tearDown(uid);
        removed.push(uid);
      } catch (err) {
        this.log.warn({ uid, err: errorMessage(err) }, 'could not remove the volumes of an orphaned pod');
      }
    }
    return removed;
  }
}
