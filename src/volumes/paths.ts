// Where volumes live on the node, in upstream's layout, so tools that know the kubelet's folders
// (and a Go kubelet taking over the node) find them:
//   <root-dir>/pods/<uid>/volumes/kubernetes.io~<plugin>/<volume-name>
// hostPath volumes have no folder here: the host path is mounted as it is.
import { posix } from 'node:path';

export type VolumeKind = 'secret' | 'configMap' | 'downwardAPI' | 'projected' | 'emptyDir' | 'hostPath';

export const VOLUME_KINDS: readonly VolumeKind[] = ['secret', 'configMap', 'downwardAPI', 'projected', 'emptyDir', 'hostPath'];

/** Upstream plugin names with '/' escaped as '~'. */
export const PLUGIN_DIR: Record<Exclude<VolumeKind, 'hostPath'>, string> = {
  secret: 'kubernetes.io~secret',
  configMap: 'kubernetes.io~configmap',
  downwardAPI: 'kubernetes.io~downward-api',
  projected: 'kubernetes.io~projected',
  emptyDir: 'kubernetes.io~empty-dir',
};

export function podDir(rootDir: string, uid: string): string {
  return posix.join(rootDir, 'pods', uid);
}

export function podVolumesDir(rootDir: string, uid: string): string {
  return posix.join(podDir(rootDir, uid), 'volumes');
}

export function volumeDir(rootDir: string, uid: string, kind: Exclude<VolumeKind, 'hostPath'>, name: string): string {
  return posix.join(podVolumesDir(rootDir, uid), PLUGIN_DIR[kind], name);
}
