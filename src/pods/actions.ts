// What one sync of a pod must do, computed from the desired pod and what the runtime holds: the
// heart of SyncPod, as upstream's computePodActions. Pure: no I/O, no clock (restart backoff is
// applied by the caller when it starts a container), so it is tested exhaustively on plain data.
//
// Order of decisions, as upstream:
//  1. the sandbox: none, not ready, more than one ready, or no IP on a pod network -> (re)create
//     it; everything in the pod is killed first. With restartPolicy Never a sandbox that died
//     after its containers ran is not recreated (the pod is done).
//  2. init containers one at a time, in order; each must exit 0 before the next; a failed one is
//     retried per restart policy, or (Never) the pod is killed;
//  3. app containers: start those that should (re)start per restart policy; restart running ones
//     whose spec hash changed or whose liveness/startup probe failed; kill the pod when nothing
//     should keep running.
// Sidecars (init containers with restartPolicy Always, upstream 1.28+): in step 2 a sidecar that
// has started (running, or exited since) lets the next init container go; from then on, while
// the pod runs, a sidecar that exited is started again whatever the pod's restart policy (with
// the same crash backoff), and one whose spec changed is restarted. Sidecars never keep a pod
// alive: once no app container should run, the pod is killed (sidecars last, see killPod).
import type { Container, Pod } from '../api/core-v1.js';
import { containerHash } from './hash.js';
import { latestContainer, type PodRuntimeState, type RuntimeContainer } from './runtime-state.js';

export interface ContainerToKill {
  id: string;
  name: string;
  reason: string;
  message: string;
  /** Probe-level terminationGracePeriodSeconds of the probe that failed (it wins over the pod's). */
  graceSeconds?: number;
}

export interface PodActions {
  /** Stop every container and the sandbox before anything else. */
  killPod: boolean;
  createSandbox: boolean;
  /** The sandbox to use when not creating one (the newest, ready). */
  sandboxId: string;
  /** Attempt number of the sandbox to create. */
  attempt: number;
  /** Index into spec.initContainers of the one to start next. */
  nextInitContainer: number | undefined;
  /** Indexes into spec.containers to start. */
  containersToStart: number[];
  /** Indexes into spec.initContainers of sidecars to (re)start (they exited, or never ran). */
  sidecarsToStart: number[];
  containersToKill: ContainerToKill[];
}

export interface ProbeVerdicts {
  /** The liveness probe of this container has failed (restart it). */
  livenessFailed?: (name: string, containerId: string) => boolean;
  /** The startup probe of this container has failed (restart it). */
  startupFailed?: (name: string, containerId: string) => boolean;
}

/** A sidecar: an init container that keeps running beside the app containers. */
export function isSidecar(c: Container | undefined): boolean {
  return c?.restartPolicy === 'Always';
}

function restartsOnFailure(pod: Pod): boolean {
  return pod.spec.restartPolicy !== 'Never';
}

function succeeded(c: RuntimeContainer | undefined): boolean {
  return c !== undefined && c.state === 'exited' && c.exitCode === 0;
}

function failed(c: RuntimeContainer | undefined): boolean {
  return c !== undefined && (c.state === 'unknown' || (c.state === 'exited' && c.exitCode !== 0));
}

/** Upstream ShouldContainerBeRestarted: should a non-running container be started (again)? */
export function shouldStartContainer(container: Container, pod: Pod, state: PodRuntimeState): boolean {
  const latest = latestContainer(state, container.name);
  if (!latest) return true;
  if (latest.state === 'running') return false;
  if (latest.state === 'unknown' || latest.state === 'created') return true;
  if (pod.spec.restartPolicy === 'Never') return false;
  if (pod.spec.restartPolicy === 'OnFailure' && latest.exitCode === 0) return false;
  return true;
}

/** Why the sandbox must be (re)created, or undefined when the newest one is usable. */
function sandboxProblem(pod: Pod, state: PodRuntimeState): string | undefined {
  const newest = state.sandboxes[0];
  if (!newest) return 'no sandbox';
  if (state.sandboxes.filter((s) => s.ready).length > 1) return 'more than one ready sandbox';
  if (!newest.ready) return 'sandbox not ready';
  if (Boolean(pod.spec.hostNetwork) !== newest.hostNetwork) return 'network namespace changed';
  if (!newest.hostNetwork && newest.ips.length === 0) return 'sandbox has no IP';
  return undefined;
}

/** The next init container to run; `done` when all have succeeded (or app containers exist). */
export function nextInitContainer(pod: Pod, state: PodRuntimeState): { index: number | undefined; lastFailed: boolean; done: boolean } {
  const inits = pod.spec.initContainers ?? [];
  if (inits.length === 0) return { index: undefined, lastFailed: false, done: true };
  // Once an app container has run, initialization is over (upstream's rule).
  if (pod.spec.containers.some((c) => latestContainer(state, c.name) !== undefined)) return { index: undefined, lastFailed: false, done: true };
  for (let i = inits.length - 1; i >= 0; i--) {
    const init = inits[i];
    if (!init) continue;
    const latest = latestContainer(state, init.name);
    if (!latest) continue;
    if (isSidecar(init)) {
      // Started once (running, or exited since: restarted on its own): the next one may go.
      if (latest.state === 'created') return { index: undefined, lastFailed: false, done: false };
      return i === inits.length - 1 ? { index: undefined, lastFailed: false, done: true } : { index: i + 1, lastFailed: false, done: false };
    }
    if (failed(latest)) return { index: i, lastFailed: true, done: false };
    if (latest.state === 'running' || latest.state === 'created') return { index: undefined, lastFailed: false, done: false };
    if (succeeded(latest))
      return i === inits.length - 1 ? { index: undefined, lastFailed: false, done: true } : { index: i + 1, lastFailed: false, done: false };
  }
  return { index: 0, lastFailed: false, done: false };
}

/** Why a running sidecar must be restarted (spec changed, probe failed), or undefined. */
function sidecarVerdict(c: Container, id: string, hash: string, probes: ProbeVerdicts): { reason: string; message: string } | undefined {
  if (hash !== '' && hash !== containerHash(c)) return { reason: 'SpecChanged', message: `Container ${c.name} definition changed, will be restarted` };
  if (probes.livenessFailed?.(c.name, id)) return { reason: 'Unhealthy', message: `Container ${c.name} failed liveness probe, will be restarted` };
  if (probes.startupFailed?.(c.name, id)) return { reason: 'Unhealthy', message: `Container ${c.name} failed startup probe, will be restarted` };
  return undefined;
}

export function computePodActions(pod: Pod, state: PodRuntimeState, probes: ProbeVerdicts = {}): PodActions {
  const newest = state.sandboxes[0];
  const problem = sandboxProblem(pod, state);
  const actions: PodActions = {
    killPod: problem !== undefined,
    createSandbox: problem !== undefined,
    sandboxId: problem === undefined ? (newest?.id ?? '') : '',
    attempt: newest ? newest.attempt + (problem !== undefined ? 1 : 0) : 0,
    nextInitContainer: undefined,
    containersToStart: [],
    sidecarsToStart: [],
    containersToKill: [],
  };

  if (actions.createSandbox) {
    if (!restartsOnFailure(pod) && newest !== undefined && state.containers.length > 0) {
      // restartPolicy Never and the sandbox died after containers ran: the pod is over.
      actions.createSandbox = false;
      return actions;
    }
    if ((pod.spec.initContainers ?? []).length > 0) {
      actions.nextInitContainer = 0;
      return actions;
    }
    pod.spec.containers.forEach((c, i) => {
      if (pod.spec.restartPolicy === 'OnFailure' && succeeded(latestContainer(state, c.name))) return;
      actions.containersToStart.push(i);
    });
    // Upstream: no sandbox for a pod whose initialization is done and has nothing to start
    // (an OnFailure job that succeeded, seen again after a kubelet restart).
    if (actions.containersToStart.length === 0) actions.createSandbox = false;
    return actions;
  }

  const init = nextInitContainer(pod, state);
  const inits = pod.spec.initContainers ?? [];
  if (!init.done) {
    if (init.index !== undefined) {
      if (init.lastFailed && !restartsOnFailure(pod)) {
        actions.killPod = true;
        return actions;
      }
      actions.nextInitContainer = init.index;
    }
    // Sidecars already started that exited meanwhile come back while initialization goes on.
    inits.forEach((c, i) => {
      const latest = latestContainer(state, c.name);
      if (isSidecar(c) && i !== init.index && latest && (latest.state === 'exited' || latest.state === 'unknown')) actions.sidecarsToStart.push(i);
    });
    return actions;
  }

  let keep = 0;
  pod.spec.containers.forEach((c, i) => {
    const latest = latestContainer(state, c.name);
    if (!latest || latest.state !== 'running') {
      if (shouldStartContainer(c, pod, state)) actions.containersToStart.push(i);
      return;
    }
    let reason: string | undefined;
    let message = '';
    let graceSeconds: number | undefined;
    if (latest.hash !== '' && latest.hash !== containerHash(c)) {
      reason = 'SpecChanged';
      message = `Container ${c.name} definition changed, will be restarted`;
    } else if (probes.livenessFailed?.(c.name, latest.id)) {
      reason = 'Unhealthy';
      message = `Container ${c.name} failed liveness probe, will be restarted`;
      graceSeconds = c.livenessProbe?.terminationGracePeriodSeconds;
    } else if (probes.startupFailed?.(c.name, latest.id)) {
      reason = 'Unhealthy';
      message = `Container ${c.name} failed startup probe, will be restarted`;
      graceSeconds = c.startupProbe?.terminationGracePeriodSeconds;
    }
    if (reason === undefined) {
      keep++;
      return;
    }
    actions.containersToKill.push({ id: latest.id, name: c.name, reason, message, ...(graceSeconds === undefined ? {} : { graceSeconds }) });
    if (pod.spec.restartPolicy !== 'Never') actions.containersToStart.push(i);
  });
  if (keep === 0 && actions.containersToStart.length === 0) {
    // Nothing of the app should run any more: sidecars do not hold the pod (a Job-like pod ends).
    actions.killPod = true;
    return actions;
  }
  inits.forEach((c, i) => {
    if (!isSidecar(c)) return;
    const latest = latestContainer(state, c.name);
    if (!latest || latest.state === 'exited' || latest.state === 'unknown') {
      actions.sidecarsToStart.push(i);
      return;
    }
    if (latest.state !== 'running') return;
    const verdict = sidecarVerdict(c, latest.id, latest.hash, probes);
    if (verdict) {
      actions.containersToKill.push({ id: latest.id, name: c.name, ...verdict });
      actions.sidecarsToStart.push(i);
    }
  });
  return actions;
}
