// Managed containerd and local images: the public surface.
export { ManagedContainerd, ContainerdStartError, mountsUnder, type ManagedContainerdOptions } from './managed.js';
export { containerdConfigToml, cniConflist, containerdPaths, insecureRegistryHostsToml, type ContainerdConfigOptions, type ContainerdPaths } from './config.js';
export {
  checkContainerdDeps,
  assertContainerdDeps,
  missingRequirements,
  describeMissing,
  pathLookup,
  systemLookup,
  ContainerdDepsError,
  CONTAINERD_REQUIREMENTS,
  IMAGE_BUILD_REQUIREMENTS,
  ALL_REQUIREMENTS,
  type Requirement,
  type Lookup,
} from './deps.js';
export { buildImages, ensureImages, imageCacheDir, BUSYBOX_IMAGE, BUSYBOX_LATEST, PAUSE_IMAGE, type BuiltImage } from './images.js';
