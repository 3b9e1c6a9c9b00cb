// CRI answers in the kubelet's terms: a ContainerStatus or PodSandboxStatus becomes the
// RuntimeContainer or RuntimeSandbox that pod runtime states hold, and a sandbox's upstream
// labels give the pod's identity. Pure; used by the sync (its read-back), the PLEG (relists and
// events) and anything else that inspects a pod.
import type { ContainerStatus__Output } from '../gen/cri/runtime/v1/ContainerStatus.js';
import type { PodSandbox__Output } from '../gen/cri/runtime/v1/PodSandbox.js';
import type { PodSandboxStatus__Output } from '../gen/cri/runtime/v1/PodSandboxStatus.js';
import { containerMessage } from './termination-message.js';
import {
  ANNOTATION_CONTAINER_HASH,
  ANNOTATION_RESTART_COUNT,
  LABEL_CONTAINER_NAME,
  LABEL_POD_NAME,
  LABEL_POD_NAMESPACE,
  LABEL_POD_UID,
  nsToMs,
  type RuntimeContainer,
  type RuntimeContainerState,
  type RuntimeSandbox,
} from './runtime-state.js';

function runtimeState(s: string): RuntimeContainerState {
  switch (s) {
    case 'CONTAINER_CREATED':
      return 'created';
    case 'CONTAINER_RUNNING':
      return 'running';
    case 'CONTAINER_EXITED':
      return 'exited';
    default:
      return 'unknown';
  }
}

/** A CRI ContainerStatus in the kubelet's terms; `runtime` is the ID scheme ("containerd"). */
export function containerFromStatus(s: ContainerStatus__Output, sandboxId: string, runtime: string): RuntimeContainer {
  const restart = Number.parseInt(s.annotations[ANNOTATION_RESTART_COUNT] ?? '', 10);
  const attempt = s.metadata?.attempt ?? 0;
  return {
    id: s.id,
    runtime,
    name: s.labels[LABEL_CONTAINER_NAME] ?? s.metadata?.name ?? '',
    sandboxId,
    attempt,
    restartCount: Number.isFinite(restart) ? restart : attempt,
    hash: s.annotations[ANNOTATION_CONTAINER_HASH] ?? '',
    state: runtimeState(s.state),
    createdAt: nsToMs(s.createdAt),
    startedAt: nsToMs(s.startedAt),
    finishedAt: nsToMs(s.finishedAt),
    exitCode: s.exitCode,
    reason: s.reason,
    // The runtime's message, plus the termination message once the container exited.
    message: containerMessage(s),
    image: s.image?.image ?? '',
    imageRef: s.imageRef,
  };
}

/** A CRI PodSandboxStatus in the kubelet's terms. */
export function sandboxFromStatus(s: PodSandboxStatus__Output): RuntimeSandbox {
  const ips = s.network?.ip ? [s.network.ip, ...s.network.additionalIps.map((a) => a.ip).filter((ip) => ip !== '')] : [];
  return {
    id: s.id,
    attempt: s.metadata?.attempt ?? 0,
    ready: s.state === 'SANDBOX_READY',
    createdAt: nsToMs(s.createdAt),
    ips,
    hostNetwork: s.linux?.namespaces?.options?.network === 'NODE',
  };
}

/** Pod identity from the upstream labels of a sandbox. */
export function podIdentity(s: PodSandbox__Output | PodSandboxStatus__Output): { uid: string; name: string; namespace: string } {
  return {
    uid: s.labels[LABEL_POD_UID] ?? s.metadata?.uid ?? '',
    name: s.labels[LABEL_POD_NAME] ?? s.metadata?.name ?? '',
    namespace: s.labels[LABEL_POD_NAMESPACE] ?? s.metadata?.namespace ?? '',
  };
}
