// The main thread's handle on the probe thread: starts and supervises it (restart with backoff
// within a budget, as the PLEG actor), tells it which containers to probe, and keeps the
// results it publishes, so pod workers can read readiness, startup and liveness verdicts
// synchronously. Only changes cross the thread: a pod's probe target is sent when its running
// containers, pod IP or probe specs change, and the thread publishes only result changes.
//
// Results are kept per (pod, container, probe kind) with the container ID they are for: a
// result for another container ID than the running one does not count, which is what makes
// "results reset when the container ID changes" hold on this side too. After a restart of the
// thread every target is sent again and results start over from their initial values (the
// status shows unready until readiness succeeds again), as after an upstream kubelet restart.
// Spawn, supervision and stop are the ThreadHost's (host/thread-host.ts), shared with the PLEG actor.
import type { Remote } from 'comlink';
import type { Logger } from 'pino';
import type { Pod } from '../../api/core-v1.js';
import type { CriHandlers } from '../../native/cri/api.js';
import { silentLogger } from '../../log.js';
import type { Bus, MessageOf, RequestOf } from '../../bus/index.js';
import type { ProbeVerdicts } from '../../pods/actions.js';
import { latestContainer, type PodRuntimeState } from '../../pods/runtime-state.js';
import type { StatusInputs } from '../../pods/status.js';
import { containerProbes, initialResult, probeOf, workerKey, type ProbeKind, type ProbePodTarget } from '../../probes/spec.js';
import { DEFAULT_MAX_CONCURRENT_PROBES } from './logic.js';
import { packageVersion } from '../../version.js';
import { PROBE_THREAD_TOPICS, type ProbeControl, type ProbeThreadStats, type ProbeWorkerData } from './protocol.js';
import { ThreadHost, type ThreadPorts } from '../host/thread-host.js';

/** Commands to the probe thread wait this long for their reply (a burst of pods queues many). */
const COMMAND_TIMEOUT_MS = 60_000;

export interface ProbeActorOptions {
  runtime: { endpoint: string; imageEndpoint?: string; name: string } | { embedded: CriHandlers; name: string };
  bus: Bus;
  runtimeRequestTimeoutMs?: number;
  maxConcurrent?: number;
  /** The node's IP: the probe host of host-network pods. */
  hostIP?: string;
  logger?: Logger;
  restartBudget?: number;
  budgetWindowMs?: number;
  /** A probe result changed (after the cache here took it). */
  onResult?: (m: MessageOf<'probe.result'>) => void;
  /** A probe event from the thread (it is already on the bus): cluster mode sends it on. */
  onEvent?: (m: MessageOf<'pod.event'>) => void;
}

interface CachedResult {
  containerId: string;
  result: 'success' | 'failure' | 'unknown';
}

/** The probe target of a pod: its running containers that have probes. */
export function probeTargetOf(pod: Pod, state: PodRuntimeState | undefined, hostIP?: string): ProbePodTarget {
  const target: ProbePodTarget = { uid: pod.metadata.uid ?? '', name: pod.metadata.name ?? '', namespace: pod.metadata.namespace ?? 'default', containers: [] };
  if (!state) return target;
  const sandbox = state.sandboxes[0];
  const podIP = (sandbox?.hostNetwork || pod.spec.hostNetwork ? hostIP : sandbox?.ips[0]) ?? '';
  // App containers, and sidecars (restartable init containers), which upstream probes too.
  const specs = [...(pod.spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always'), ...pod.spec.containers];
  for (const c of specs) {
    if (!c.livenessProbe && !c.readinessProbe && !c.startupProbe) continue;
    const latest = latestContainer(state, c.name);
    if (!latest || latest.state !== 'running') continue;
    target.containers.push({ name: c.name, containerId: latest.id, startedAt: latest.startedAt || latest.createdAt, probes: containerProbes(c, podIP) });
  }
  return target;
}

export class ProbeActor extends ThreadHost<ProbeControl, ProbeWorkerData> {
  /** What the thread was told, per pod UID (as JSON, to send only changes). */
  private readonly targets = new Map<string, { target: ProbePodTarget; digest: string }>();
  private readonly results = new Map<string, CachedResult>();
  /** Probe specs per pod, to tell "no probe" from "no result yet". */
  private readonly specs = new Map<string, Pod>();

  constructor(private readonly opts: ProbeActorOptions) {
    super({
      script: new URL('./thread.js', import.meta.url),
      actor: 'probes',
      what: 'probe thread',
      publishes: PROBE_THREAD_TOPICS,
      runtime: opts.runtime,
      bus: opts.bus,
      logger: (opts.logger ?? silentLogger).child({ actor: 'probes' }),
      restartBudget: opts.restartBudget,
      budgetWindowMs: opts.budgetWindowMs,
    });
    opts.bus.subscribe('probe.result', (m) => this.onResult(m), { name: 'probe-actor', capacity: 10_000 });
    if (opts.onEvent)
      opts.bus.subscribe(
        'pod.event',
        (m, env) => {
          if (env.source === 'probe') opts.onEvent?.(m);
        },
        { name: 'probe-actor:events', capacity: 10_000 },
      );
  }

  protected workerData(ports: ThreadPorts): ProbeWorkerData {
    return {
      ...ports,
      runtimeRequestTimeoutMs: this.opts.runtimeRequestTimeoutMs ?? 120_000,
      maxConcurrent: this.opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT_PROBES,
      version: packageVersion(),
    };
  }

  protected started(control: Remote<ProbeControl>): void {
    // A new thread knows nothing: give it every target, then let it run.
    const all = [...this.targets.values()].map((t) => t.target);
    void this.opts.bus
      .call('probes.set-pods', { targets: all }, COMMAND_TIMEOUT_MS)
      .then(() => control.start())
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'probe thread did not take its targets'));
    this.log.info({ generation: this.generation, pods: all.length }, 'probe thread started');
  }

  private onResult(m: MessageOf<'probe.result'>): void {
    const key = workerKey(m.podUid, m.containerName, m.probe);
    // Results of pods no longer tracked are late: ignore them.
    if (!this.targets.has(m.podUid)) return;
    this.results.set(key, { containerId: m.containerId, result: m.result });
    this.opts.onResult?.(m);
  }

  /** The pod's desired spec and runtime state changed: tell the thread if its target did. */
  track(pod: Pod, state: PodRuntimeState | undefined): void {
    const uid = pod.metadata.uid ?? '';
    const target = probeTargetOf(pod, state, this.opts.hostIP);
    this.specs.set(uid, pod);
    if (target.containers.length === 0) {
      if (this.targets.has(uid)) {
        this.targets.delete(uid);
        this.dropResults(uid);
        this.command('probes.remove-pod', { uid });
      }
      return;
    }
    const digest = JSON.stringify(target);
    if (this.targets.get(uid)?.digest === digest) return;
    this.targets.set(uid, { target, digest });
    this.command('probes.set-pod', { target });
  }

  /** The pod is gone for good. */
  forget(uid: string): void {
    this.specs.delete(uid);
    this.dropResults(uid);
    if (this.targets.delete(uid)) this.command('probes.remove-pod', { uid });
  }

  private dropResults(uid: string): void {
    for (const key of [...this.results.keys()]) if (key.startsWith(`${uid}/`)) this.results.delete(key);
  }

  /** The result for a running container, or the probe kind's initial value when there is none yet. */
  private resultFor(uid: string, name: string, kind: ProbeKind, containerId: string): 'success' | 'failure' | 'unknown' {
    const r = this.results.get(workerKey(uid, name, kind));
    return r && r.containerId === containerId ? r.result : initialResult(kind);
  }

  private hasProbe(uid: string, name: string, kind: ProbeKind): boolean {
    const pod = this.specs.get(uid);
    if (!pod) return false;
    const c = pod.spec.containers.find((x) => x.name === name) ?? pod.spec.initContainers?.find((x) => x.name === name);
    return c !== undefined && probeOf(c, kind) !== undefined;
  }

  /** Inputs for computePodStatus: readiness and startup of running containers. */
  statusInputs(uid: string): Pick<StatusInputs, 'ready' | 'started'> {
    return {
      ready: (name, id) => (this.hasProbe(uid, name, 'readiness') ? this.resultFor(uid, name, 'readiness', id) === 'success' : undefined),
      started: (name, id) => (this.hasProbe(uid, name, 'startup') ? this.resultFor(uid, name, 'startup', id) === 'success' : undefined),
    };
  }

  /** Inputs for planSync: which running containers failed liveness or startup. */
  verdicts(uid: string): ProbeVerdicts {
    return {
      livenessFailed: (name, id) => this.hasProbe(uid, name, 'liveness') && this.resultFor(uid, name, 'liveness', id) === 'failure',
      startupFailed: (name, id) => this.hasProbe(uid, name, 'startup') && this.resultFor(uid, name, 'startup', id) === 'failure',
    };
  }

  // The probe thread's commands are bus requests (bus/requests.ts), served by the thread: these
  // are the main thread's shorthands for them. While the thread is down nothing is sent (a new
  // thread is told every target first), and the queries answer undefined.

  /** A fire-and-forget command to a live thread (a lost one is made good when the thread restarts). */
  private command<K extends 'probes.set-pod' | 'probes.remove-pod'>(name: K, req: RequestOf<K>): void {
    if (!this.control) return;
    this.opts.bus
      .call(name, req, COMMAND_TIMEOUT_MS)
      .catch((err: unknown) => this.log.debug({ err: (err as Error).message, request: name }, 'probe command not taken'));
  }

  async stats(): Promise<ProbeThreadStats | undefined> {
    return this.opts.bus.call('probes.stats', {}).catch(() => undefined);
  }

  async resetStats(): Promise<void> {
    await this.opts.bus.call('probes.reset-stats', {}).catch(() => undefined);
  }

  /** The prober_* metrics text (empty while the thread is down). */
  async metricsText(): Promise<string> {
    return (await this.opts.bus.call('probes.metrics', {}).catch(() => undefined))?.text ?? '';
  }

  health(): { ok: boolean; message?: string } {
    if (this.gaveUp) return { ok: false, message: `probe thread is down: ${this.supervisor.lastReason}; restart budget spent` };
    return { ok: true };
  }
}
