// Typed volume errors. Each failure a volume set-up, a container mount or an env lookup can end
// in is one class with a stable `code`. The messages are upstream's words where upstream has
// them (`secret "foo" not found`, `couldn't find key KEY in ConfigMap NS/NAME`), because users
// grep events and pod status for them; the caller adds upstream's prefix
// (`MountVolume.SetUp failed for volume "x" : ...`) and turns them into FailedMount events or
// CreateContainerConfigError.

export type VolumeErrorCode =
  | 'KTS_VOLUME_OBJECT_NOT_FOUND'
  | 'KTS_VOLUME_KEY_NOT_FOUND'
  | 'KTS_VOLUME_INVALID_PATH'
  | 'KTS_VOLUME_HOSTPATH_TYPE'
  | 'KTS_VOLUME_UNSUPPORTED'
  | 'KTS_VOLUME_NO_OBJECT_SOURCE'
  | 'KTS_VOLUME_FETCH_FAILED'
  | 'KTS_VOLUME_MOUNT_FAILED'
  | 'KTS_VOLUME_INVALID_SPEC'
  | 'KTS_VOLUME_CONTAINER_MOUNT'
  | 'KTS_VOLUME_ENV'
  | 'KTS_VOLUME_SERVICES_NOT_SYNCED'
  | 'KTS_VOLUME_SOURCES';

export abstract class VolumeError extends Error {
  abstract readonly code: VolumeErrorCode;
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
  }
}

/** A secret or configMap the pod names does not exist (and the reference is not optional). */
export class ObjectNotFoundError extends VolumeError {
  override readonly name = 'ObjectNotFoundError';
  readonly code = 'KTS_VOLUME_OBJECT_NOT_FOUND';
  constructor(
    readonly kind: 'secret' | 'configmap',
    readonly objectName: string,
  ) {
    super(`${kind} "${objectName}" not found`);
  }
}

/** An items[] entry names a key the object does not have. */
export class KeyNotFoundError extends VolumeError {
  override readonly name = 'KeyNotFoundError';
  readonly code = 'KTS_VOLUME_KEY_NOT_FOUND';
}

/** A file path of a payload (items[].path, a key) is absolute, has '..' or starts with '..'. */
export class InvalidPathError extends VolumeError {
  override readonly name = 'InvalidPathError';
  readonly code = 'KTS_VOLUME_INVALID_PATH';
}

/** A hostPath volume's path is not of the type the pod asked for. */
export class HostPathTypeError extends VolumeError {
  override readonly name = 'HostPathTypeError';
  readonly code = 'KTS_VOLUME_HOSTPATH_TYPE';
}

/** A volume source this kubelet does not implement (persistentVolumeClaim, nfs, csi, ...). */
export class UnsupportedVolumeError extends VolumeError {
  override readonly name = 'UnsupportedVolumeError';
  readonly code = 'KTS_VOLUME_UNSUPPORTED';
}

/** The pod needs API objects but the kubelet runs without an API server (standalone). */
export class NoObjectSourceError extends VolumeError {
  override readonly name = 'NoObjectSourceError';
  readonly code = 'KTS_VOLUME_NO_OBJECT_SOURCE';
}

/** Reading an object or requesting a token failed for another reason than "not found". */
export class FetchFailedError extends VolumeError {
  override readonly name = 'FetchFailedError';
  readonly code = 'KTS_VOLUME_FETCH_FAILED';
}

/** mount(8) / umount(8) failed (tmpfs for emptyDir Memory, secrets and projected volumes). */
export class MountFailedError extends VolumeError {
  override readonly name = 'MountFailedError';
  readonly code = 'KTS_VOLUME_MOUNT_FAILED';
}

/** The volume's spec is malformed (a static pod skips the API server's validation). */
export class InvalidVolumeSpecError extends VolumeError {
  override readonly name = 'InvalidVolumeSpecError';
  readonly code = 'KTS_VOLUME_INVALID_SPEC';
}

/** A container's volumeMounts cannot be turned into CRI mounts (CreateContainerConfigError). */
export class ContainerMountError extends VolumeError {
  override readonly name = 'ContainerMountError';
  readonly code = 'KTS_VOLUME_CONTAINER_MOUNT';
}

/** A container's env cannot be resolved (CreateContainerConfigError). */
export class EnvResolveError extends VolumeError {
  override readonly name = 'EnvResolveError';
  readonly code = 'KTS_VOLUME_ENV';
}

/** An API pod's service env asked for before the Service cache's first list (upstream's words). */
export class ServicesNotSyncedError extends VolumeError {
  override readonly name = 'ServicesNotSyncedError';
  readonly code = 'KTS_VOLUME_SERVICES_NOT_SYNCED';
  constructor() {
    super('services have not yet been read at least once, cannot construct envvars');
  }
}

/** Several sources of a projected volume failed: upstream's aggregate wording (`[a, b]`). */
export class VolumeSourcesError extends VolumeError {
  override readonly name = 'VolumeSourcesError';
  readonly code = 'KTS_VOLUME_SOURCES';
  constructor(readonly errors: unknown[]) {
    super(`[${errors.map(errorMessage).join(', ')}]`);
  }
}

export function isVolumeError(err: unknown): err is VolumeError {
  return err instanceof VolumeError;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
