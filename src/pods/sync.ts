// SyncPod, split in two halves that run in different places:
//  - planSync (pure, on the main thread, in the pod worker): the actions for the pod, minus the
//    containers still in CrashLoopBackOff or ImagePullBackOff (those become sync errors the
//    status shows), with restart counts decided; plain data, so it can cross to a pool thread;
//  - executeSync (on a pool thread): the CRI calls in upstream order: kill what must die (with
//    the grace period), create the sandbox, then the next init container or the app containers:
//    ensure the image per pull policy, CreateContainer, StartContainer. Every failure becomes a
//    typed per-container error with the upstream reason; nothing throws past it.
// inspectPod reads a pod's runtime state back through CRI (what the PLEG relister does for pods
// that changed).
import type { Container, LifecycleHandler, Pod } from '../api/core-v1.js';
import type { CriClient } from '../native/cri/client.js';
import type { Container__Output } from '../gen/cri/runtime/v1/Container.js';
import type { PodSandbox__Output } from '../gen/cri/runtime/v1/PodSandbox.js';
import { isCriError } from '../native/cri/errors.js';
import { computePodActions, type ContainerToKill, type ProbeVerdicts } from './actions.js';
import type { Backoff } from './backoff.js';
import { containerHash } from './hash.js';
import { ANNOTATION_PRESTOP_HANDLER, containerConfigFor, sandboxConfigFor, type SandboxOptions } from './cri-config.js';
import { runHook, withinMs } from './hooks.js';
import { terminationMessageMount } from './termination-message.js';
import { containerFromStatus, podIdentity, sandboxFromStatus } from './cri-status.js';
import {
  emptyRuntimeState,
  latestContainer,
  LABEL_CONTAINER_NAME,
  LABEL_POD_NAME,
  LABEL_POD_NAMESPACE,
  LABEL_POD_UID,
  newestFirst,
  type PodRuntimeState,
} from './runtime-state.js';
import type { SyncError } from './status.js';
import { containerInputs, type PreparedPod } from '../volumes/prepared.js';
import { resolveSubPathMounts } from '../volumes/mounts.js';
import { checkRunAsNonRoot, containerNodeOptions, ensureEtcHosts } from './container-setup.js';

export interface StartStep {
  kind: 'init' | 'app';
  index: number;
  name: string;
  restartCount: number;
  pullPolicy: 'Always' | 'IfNotPresent' | 'Never';
}

export interface SyncPlan {
  killPod: boolean;
  killGraceSeconds: number;
  containersToKill: ContainerToKill[];
  createSandbox: boolean;
  sandboxId: string;
  /** The existing sandbox's IPs (status.podIP env); a new sandbox's come from PodSandboxStatus. */
  sandboxIPs?: string[];
  attempt: number;
  start: StartStep[];
  /** Containers not started this time and why (backoff): shown in status. */
  waiting: Record<string, SyncError>;
  /** When a container leaves backoff (ms from now); the worker requeues then. */
  retryAfterMs: number | undefined;
}

export interface SyncContext {
  now: number;
  crashBackoff: Backoff;
  pullBackoff: Backoff;
  probes?: ProbeVerdicts;
}

export function backoffKey(pod: Pod, c: Container): string {
  return `${pod.metadata.uid ?? ''}/${c.name}/${containerHash(c)}`;
}

export function pullBackoffKey(pod: Pod, c: Container): string {
  return `${pod.metadata.uid ?? ''}/${c.image ?? ''}`;
}

function podRef(pod: Pod): string {
  return `${pod.metadata.name ?? ''}_${pod.metadata.namespace ?? 'default'}(${pod.metadata.uid ?? ''})`;
}

export function planSync(pod: Pod, state: PodRuntimeState, ctx: SyncContext): SyncPlan {
  const actions = computePodActions(pod, state, ctx.probes);
  const plan: SyncPlan = {
    killPod: actions.killPod,
    killGraceSeconds: pod.spec.terminationGracePeriodSeconds ?? 30,
    containersToKill: actions.containersToKill,
    createSandbox: actions.createSandbox,
    sandboxId: actions.sandboxId,
    sandboxIPs: state.sandboxes.find((s) => s.id === actions.sandboxId && s.ready)?.ips ?? [],
    attempt: actions.attempt,
    start: [],
    waiting: {},
    retryAfterMs: undefined,
  };
  const candidates: { kind: 'init' | 'app'; index: number; c: Container }[] = [];
  for (const i of actions.sidecarsToStart) {
    const c = pod.spec.initContainers?.[i];
    if (c) candidates.push({ kind: 'init', index: i, c });
  }
  if (actions.nextInitContainer !== undefined) {
    const c = pod.spec.initContainers?.[actions.nextInitContainer];
    if (c) candidates.push({ kind: 'init', index: actions.nextInitContainer, c });
  }
  for (const i of actions.containersToStart) {
    const c = pod.spec.containers[i];
    if (c) candidates.push({ kind: 'app', index: i, c });
  }
  const retry = (ms: number): void => {
    plan.retryAfterMs = plan.retryAfterMs === undefined ? ms : Math.min(plan.retryAfterMs, ms);
  };
  for (const { kind, index, c } of candidates) {
    const latest = latestContainer(state, c.name);
    // Restart backoff applies to a container that ran and died (upstream doBackOff).
    if (latest && (latest.state === 'exited' || latest.state === 'unknown') && !actions.createSandbox) {
      const key = backoffKey(pod, c);
      const since = latest.finishedAt || ctx.now;
      if (ctx.crashBackoff.inBackOffSince(key, since)) {
        const delay = ctx.crashBackoff.get(key);
        plan.waiting[c.name] = {
          reason: 'CrashLoopBackOff',
          message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${c.name} pod=${podRef(pod)}`,
        };
        retry(ctx.crashBackoff.remaining(key, since));
        continue;
      }
      ctx.crashBackoff.next(key, ctx.now);
    }
    const pullKey = pullBackoffKey(pod, c);
    if (ctx.pullBackoff.inBackOffSinceUpdate(pullKey)) {
      // Still backing off a failed pull of this image for this pod.
      plan.waiting[c.name] = { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image ?? ''}"` };
      retry(Math.max(100, ctx.pullBackoff.get(pullKey)));
      continue;
    }
    plan.start.push({ kind, index, name: c.name, restartCount: latest ? latest.restartCount + 1 : 0, pullPolicy: c.imagePullPolicy ?? 'IfNotPresent' });
  }
  return plan;
}

export interface StartResult {
  name: string;
  containerId?: string;
  error?: SyncError;
  /** The image had to be pulled, and how long it took. */
  pulledMs?: number;
}

/**
 * Why the sandbox could not be set up, decided here at the runtime boundary so the pod worker
 * switches on a reason: the sandbox config could not be built ('config'), the runtime failed
 * ('runtime'), or it failed to set up the pod's network ('network-not-ready': retried in 1 s).
 * Runtimes report a CNI failure as an Unknown error with text (containerd: "failed to setup
 * network for sandbox", "cni plugin not initialized"), so that one rule reads the text.
 */
export type SandboxFailureReason = 'network-not-ready' | 'runtime' | 'config';

export function sandboxFailureReason(err: unknown): Exclude<SandboxFailureReason, 'config'> {
  return /network|cni/i.test(message(err)) ? 'network-not-ready' : 'runtime';
}

export interface SyncResult {
  sandboxId: string;
  /** The FailedCreatePodSandBox event's message. */
  sandboxError?: string;
  sandboxFailure?: { reason: SandboxFailureReason };
  killed: string[];
  killErrors: string[];
  started: StartResult[];
  /** Hook failures (and the kills they cause), in the order they happened. */
  events?: HookEvent[];
}

/**
 * Folds a sync's result back into the worker's state: pull failures start ImagePullBackOff, and
 * the per-container errors become the waiting reasons the status shows until the next sync.
 */
export function applySyncResult(pod: Pod, plan: SyncPlan, result: SyncResult, ctx: SyncContext): Map<string, SyncError> {
  const errors = new Map<string, SyncError>(Object.entries(plan.waiting));
  for (const s of result.started) {
    if (!s.error) continue;
    errors.set(s.name, s.error);
    if (s.error.reason === 'ErrImagePull') {
      const spec = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === s.name);
      if (spec) ctx.pullBackoff.next(pullBackoffKey(pod, spec), ctx.now);
    }
  }
  return errors;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An event a hook produced on the pool thread; the pod worker publishes it with the others. */
export interface HookEvent {
  type: 'Normal' | 'Warning';
  reason: 'FailedPostStartHook' | 'FailedPreStopHook' | 'Killing';
  message: string;
  container: string;
}

/** Upstream's minimumGracePeriodInSeconds: what a container gets after a slow preStop hook. */
export const MINIMUM_GRACE_SECONDS = 2;

/** The preStop handler of a container: from the pod spec, else the one its annotation carried. */
function preStopOf(pod: Pod | undefined, name: string, annotations: Record<string, string> | undefined): LifecycleHandler | undefined {
  const spec = pod ? [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((c) => c.name === name) : undefined;
  if (spec) return spec.lifecycle?.preStop;
  const raw = annotations?.[ANNOTATION_PRESTOP_HANDLER];
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as LifecycleHandler;
  } catch {
    return undefined;
  }
}

function sandboxIP(cri: CriClient, sandboxId: string, signal?: AbortSignal): () => Promise<string | undefined> {
  return async () => (await cri.PodSandboxStatus({ podSandboxId: sandboxId, verbose: false }, signal ? { signal } : {})).status?.network?.ip || undefined;
}

interface KillTarget {
  id: string;
  name: string;
  sandboxId: string;
  running: boolean;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
}

/**
 * Kills one container as upstream's killContainer: the preStop hook first (a running container
 * only), given at most the grace period; what it took comes off the grace StopContainer gets,
 * never below 2 s. A failed or slow hook does not stop the kill.
 */
async function killContainer(
  cri: CriClient,
  pod: Pod | undefined,
  c: KillTarget,
  graceSeconds: number,
  events: HookEvent[],
  signal?: AbortSignal,
): Promise<void> {
  const opts = signal ? { signal } : {};
  let grace = graceSeconds;
  const preStop = c.running && graceSeconds > 0 ? preStopOf(pod, c.name, c.annotations) : undefined;
  if (preStop) {
    const owner: Pod = pod ?? {
      metadata: { name: c.labels?.[LABEL_POD_NAME] ?? '', namespace: c.labels?.[LABEL_POD_NAMESPACE] ?? 'default', uid: c.labels?.[LABEL_POD_UID] ?? '' },
      spec: { containers: [] },
    };
    const spec = [...(owner.spec.initContainers ?? []), ...owner.spec.containers].find((s) => s.name === c.name) ?? { name: c.name };
    const t0 = Date.now();
    const r = await withinMs(
      runHook(preStop, { cri, pod: owner, container: spec, containerId: c.id, podIP: sandboxIP(cri, c.sandboxId, signal), ...(signal ? { signal } : {}) }),
      graceSeconds * 1000,
    );
    if (r.done && r.value !== undefined && !signal?.aborted) events.push({ type: 'Warning', reason: 'FailedPreStopHook', message: r.value, container: c.name });
    grace = Math.max(MINIMUM_GRACE_SECONDS, graceSeconds - Math.floor((Date.now() - t0) / 1000));
  }
  await cri.StopContainer({ containerId: c.id, timeout: grace }, { ...opts, timeoutMs: cri.runtimeRequestTimeoutMs + grace * 1000 });
}

export interface KillPodOptions {
  /** The pod, when known: preStop handlers from its spec, sidecars stopped last. */
  pod?: Pod;
  signal?: AbortSignal;
}

/**
 * Stops every container and sandbox of a pod (KillPod): the app (and ordinary init) containers
 * in parallel, then the sidecars (restartable init containers) one by one in reverse order, as
 * upstream does so that a sidecar serves its app containers until they are gone. All of it
 * within one grace period: later steps get what is left (at least 2 s each).
 */
export async function killPod(
  cri: CriClient,
  uid: string,
  graceSeconds: number,
  o: KillPodOptions = {},
): Promise<{ killed: string[]; errors: string[]; events: HookEvent[] }> {
  const { signal, pod } = o;
  const opts = signal ? { signal } : {};
  const filter = { labelSelector: { [LABEL_POD_UID]: uid } };
  const [containers, sandboxes] = await Promise.all([cri.ListContainers({ filter }, opts), cri.ListPodSandbox({ filter }, opts)]);
  const killed: string[] = [];
  const errors: string[] = [];
  const events: HookEvent[] = [];
  const deadline = Date.now() + graceSeconds * 1000;
  const left = (): number => (graceSeconds <= 0 ? graceSeconds : Math.max(MINIMUM_GRACE_SECONDS, Math.ceil((deadline - Date.now()) / 1000)));
  const sidecars = (pod?.spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always').map((c) => c.name);
  const live = containers.containers
    .filter((c) => c.state === 'CONTAINER_RUNNING' || c.state === 'CONTAINER_CREATED' || c.state === 'CONTAINER_UNKNOWN')
    .map((c): KillTarget => ({
      id: c.id,
      name: c.labels[LABEL_CONTAINER_NAME] ?? c.metadata?.name ?? '',
      sandboxId: c.podSandboxId,
      running: c.state === 'CONTAINER_RUNNING',
      annotations: c.annotations,
      labels: c.labels,
    }));
  const kill = async (c: KillTarget, grace: number): Promise<void> => {
    try {
      // Upstream never gives less than 2 s to a running container (minimumGracePeriodInSeconds) unless 0 was asked.
      await killContainer(cri, pod, c, grace, events, signal);
      killed.push(c.id);
    } catch (err) {
      errors.push(`StopContainer ${c.id}: ${message(err)}`);
    }
  };
  await Promise.all(live.filter((c) => !sidecars.includes(c.name)).map((c) => kill(c, graceSeconds)));
  for (const name of [...sidecars].reverse()) {
    for (const c of live.filter((x) => x.name === name)) await kill(c, left());
  }
  for (const s of sandboxes.items.filter((x) => x.state === 'SANDBOX_READY')) {
    try {
      await cri.StopPodSandbox({ podSandboxId: s.id }, opts);
      killed.push(s.id);
    } catch (err) {
      errors.push(`StopPodSandbox ${s.id}: ${message(err)}`);
    }
  }
  return { killed, errors, events };
}

async function ensureImage(
  cri: CriClient,
  image: string,
  policy: StartStep['pullPolicy'],
  sandboxConfig: ReturnType<typeof sandboxConfigFor>,
  signal?: AbortSignal,
): Promise<{ pulledMs?: number; error?: SyncError }> {
  const opts = signal ? { signal } : {};
  if (policy !== 'Always') {
    const st = await cri.ImageStatus({ image: { image }, verbose: false }, opts).catch(() => undefined);
    if (st?.image) return {};
    if (policy === 'Never') {
      return { error: { reason: 'ErrImageNeverPull', message: `Container image "${image}" is not present with pull policy of Never` } };
    }
  }
  const t0 = Date.now();
  try {
    await cri.PullImage({ image: { image }, sandboxConfig }, opts);
    return { pulledMs: Date.now() - t0 };
  } catch (err) {
    return { error: { reason: 'ErrImagePull', message: `failed to pull image "${image}": ${message(err)}` } };
  }
}

export async function executeSync(
  cri: CriClient,
  pod: Pod,
  plan: SyncPlan,
  opts: SandboxOptions & { signal?: AbortSignal; prepared?: PreparedPod } = { attempt: 0 },
): Promise<SyncResult> {
  const signal = opts.signal;
  const callOpts = signal ? { signal } : {};
  const uid = pod.metadata.uid ?? '';
  const events: HookEvent[] = [];
  const result: SyncResult = { sandboxId: plan.sandboxId, killed: [], killErrors: [], started: [], events };

  if (plan.killPod) {
    const k = await killPod(cri, uid, plan.killGraceSeconds, { pod, ...(signal ? { signal } : {}) });
    result.killed.push(...k.killed);
    result.killErrors.push(...k.errors);
    events.push(...k.events);
    if (k.errors.length > 0) return result; // retry the whole sync; never start beside survivors
  }
  for (const k of plan.containersToKill) {
    try {
      await killContainer(
        cri,
        pod,
        { id: k.id, name: k.name, sandboxId: plan.sandboxId, running: true },
        k.graceSeconds ?? plan.killGraceSeconds,
        events,
        signal,
      );
      result.killed.push(k.id);
    } catch (err) {
      result.killErrors.push(`StopContainer ${k.id}: ${message(err)}`);
    }
  }
  if (!plan.createSandbox && plan.start.length === 0) return result;

  let sandboxConfig: ReturnType<typeof sandboxConfigFor>;
  try {
    // Throws UnsafePathError for a pod whose UID, name or namespace cannot name its log folder
    // or cgroup; validation refuses such pods first, this holds when it was bypassed.
    sandboxConfig = sandboxConfigFor(pod, { ...opts, attempt: plan.attempt });
  } catch (err) {
    result.sandboxError = `Failed to create pod sandbox config: ${message(err)}`;
    result.sandboxFailure = { reason: 'config' };
    return result;
  }
  let podIPs = plan.sandboxIPs ?? [];
  if (plan.createSandbox) {
    try {
      result.sandboxId = (await cri.RunPodSandbox({ config: sandboxConfig }, callOpts)).podSandboxId;
    } catch (err) {
      result.sandboxError = `Failed to create pod sandbox: ${message(err)}`;
      result.sandboxFailure = { reason: sandboxFailureReason(err) };
      return result;
    }
    // Upstream reads the new sandbox's IPs before any container (env status.podIP); host network: none.
    if (!pod.spec.hostNetwork) {
      try {
        const net = (await cri.PodSandboxStatus({ podSandboxId: result.sandboxId, verbose: false }, callOpts)).status?.network;
        podIPs = net?.ip ? [net.ip, ...net.additionalIps.map((a) => a.ip).filter((ip) => ip !== '')] : [];
      } catch (err) {
        result.sandboxError = `Unable to get pod sandbox status: ${message(err)}`;
        result.sandboxFailure = { reason: sandboxFailureReason(err) };
        return result;
      }
    }
  }
  const etcHosts = plan.start.length > 0 ? await ensureEtcHosts(pod, result.sandboxId, podIPs, opts) : undefined;
  for (const step of plan.start) {
    const spec = step.kind === 'init' ? pod.spec.initContainers?.[step.index] : pod.spec.containers[step.index];
    if (!spec) continue;
    const image = await ensureImage(cri, spec.image ?? '', step.pullPolicy, sandboxConfig, signal);
    if (image.error) {
      result.started.push({ name: step.name, error: image.error });
      continue;
    }
    const nonRoot = await checkRunAsNonRoot(cri, pod, spec, callOpts);
    if (nonRoot) {
      result.started.push({ name: step.name, error: { reason: 'CreateContainerConfigError', message: nonRoot } });
      continue;
    }
    let config: ReturnType<typeof containerConfigFor>;
    try {
      // Mounts and env from the prepared volumes; a bad subPath or env ref fails this container only.
      config = containerConfigFor(pod, spec, {
        restartCount: step.restartCount,
        ...containerInputs(spec, opts.prepared, podIPs),
        ...containerNodeOptions(opts, etcHosts),
      });
      // subPaths once more, at time of use: the container may have changed its volume since.
      if (opts.prepared && config.mounts) await resolveSubPathMounts(spec, opts.prepared.volumes, config.mounts);
    } catch (err) {
      result.started.push({ name: step.name, error: { reason: 'CreateContainerConfigError', message: message(err) } });
      continue;
    }
    try {
      // Upstream: a host file the container can write its termination message to; when it
      // cannot be made, the container runs without it (upstream logs and goes on too).
      const tm = opts.podsDir ? await terminationMessageMount(opts.podsDir, uid, spec) : undefined;
      if (tm) (config.mounts ??= []).push({ ...tm, readonly: false, selinuxRelabel: false, propagation: 'PROPAGATION_PRIVATE' });
    } catch {
      // no termination message for this container
    }
    let containerId: string;
    try {
      containerId = (await cri.CreateContainer({ podSandboxId: result.sandboxId, config, sandboxConfig }, callOpts)).containerId;
    } catch (err) {
      result.started.push({ name: step.name, error: { reason: 'CreateContainerError', message: message(err) } });
      continue;
    }
    const pulled = image.pulledMs === undefined ? {} : { pulledMs: image.pulledMs };
    try {
      await cri.StartContainer({ containerId }, callOpts);
    } catch (err) {
      result.started.push({ name: step.name, containerId, ...pulled, error: { reason: 'RunContainerError', message: message(err) } });
      continue;
    }
    const postStart = spec.lifecycle?.postStart;
    const hookFailure = postStart
      ? await runHook(postStart, {
          cri,
          pod,
          container: spec,
          containerId,
          podIP: podIPs[0] !== undefined ? () => Promise.resolve(podIPs[0]) : sandboxIP(cri, result.sandboxId, signal),
          ...(signal ? { signal } : {}),
        })
      : undefined;
    if (hookFailure === undefined || signal?.aborted) {
      // A hook cut short by the sync's cancellation (a kill came) is no failure of the hook.
      result.started.push({ name: step.name, containerId, ...pulled });
      if (signal?.aborted) return result;
      continue;
    }
    // Upstream: a failed postStart kills the container (its preStop included); the restart
    // policy decides what comes next, and the sync reports PostStartHookError.
    events.push({ type: 'Warning', reason: 'FailedPostStartHook', message: hookFailure, container: step.name });
    events.push({ type: 'Normal', reason: 'Killing', message: 'FailedPostStartHook', container: step.name });
    try {
      await killContainer(
        cri,
        pod,
        { id: containerId, name: step.name, sandboxId: result.sandboxId, running: true },
        pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30,
        events,
        signal,
      );
    } catch (err) {
      result.killErrors.push(`StopContainer ${containerId}: ${message(err)}`);
    }
    result.started.push({ name: step.name, containerId, ...pulled, error: { reason: 'PostStartHookError', message: hookFailure } });
  }
  return result;
}

/** One pod's part of a full relist (the PLEG's lists), so its inspection needs only the status calls. */
export interface ListedPod {
  sandboxes: PodSandbox__Output[];
  containers: Container__Output[];
  /** When those lists were asked for. */
  observedAt: number;
}

/** Reads one pod's sandboxes and containers (with full statuses) back from the runtime. */
export async function inspectPod(cri: CriClient, uid: string, runtime: string, signal?: AbortSignal, listed?: ListedPod): Promise<PodRuntimeState> {
  const filter = { labelSelector: { [LABEL_POD_UID]: uid } };
  const o = signal ? { signal } : {};
  const observedAt = listed?.observedAt ?? Date.now();
  const [sandboxes, containers] = listed
    ? [{ items: listed.sandboxes }, { containers: listed.containers }]
    : await Promise.all([cri.ListPodSandbox({ filter }, o), cri.ListContainers({ filter }, o)]);
  const first = sandboxes.items[0];
  const id = first ? podIdentity(first) : { uid, name: '', namespace: '' };
  const state: PodRuntimeState = { ...emptyRuntimeState(uid, id.name, id.namespace), observedAt };
  // An object removed between the list and its status is simply gone.
  const goneIsUndefined = (err: unknown): undefined => {
    if (isCriError(err) && err.code === 'KTS_CRI_NOT_FOUND') return undefined;
    throw err;
  };
  const sandboxStatuses = await Promise.all(sandboxes.items.map((s) => cri.PodSandboxStatus({ podSandboxId: s.id, verbose: false }, o).catch(goneIsUndefined)));
  for (const s of sandboxStatuses) if (s?.status) state.sandboxes.push(sandboxFromStatus(s.status));
  state.sandboxes.sort(newestFirst);
  const containerStatuses = await Promise.all(
    containers.containers.map((c) =>
      cri
        .ContainerStatus({ containerId: c.id, verbose: false }, o)
        .then((r) => ({ r, sandboxId: c.podSandboxId }))
        .catch(goneIsUndefined),
    ),
  );
  for (const s of containerStatuses) if (s?.r.status) state.containers.push(containerFromStatus(s.r.status, s.sandboxId, runtime));
  state.containers.sort(newestFirst);
  return state;
}
