// Where volumes live on the node, in upstream's layout, so tools that know the kubelet's folders
// (and a Go kubelet taking over the node) find them:
//   <root-dir>/pods/<uid>/volumes/kubernetes.io~<plugin>/<volume-name>
// hostPath volumes have no folder here: the host path is mounted as it is.
// The UID and volume name come from the pod: joinUnder refuses any that is not one plain
// path component, so these folders are always below <root-dir>/pods.
import { joinUnder } from '../util/safe-path.js';

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

/** `<root-dir>/pods`: every pod's folder is inside, and nothing is removed outside it. */
export function podsDir(rootDir: string): string {
  return joinUnder(rootDir, ['pods']);
}

export function podDir(rootDir: string, uid: string): string {
  return joinUnder(podsDir(rootDir), [uid], 'pod uid');
}

export function podVolumesDir(rootDir: string, uid: string): string {
  return joinUnder(podDir(rootDir, uid), ['volumes']);
}

/** `<root-dir>/pods/<uid>/containers`: the termination-message files (src/pods/termination-message.ts). */
export function podContainersDir(rootDir: string, uid: string): string {
  return joinUnder(podDir(rootDir, uid), ['containers']);
}

export function volumeDir(rootDir: string, uid: string, kind: Exclude<VolumeKind, 'hostPath'>, name: string): string {
  return joinUnder(podVolumesDir(rootDir, uid), [PLUGIN_DIR[kind], name], ['volume plugin', 'volume name']);
}
