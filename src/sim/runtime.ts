// The simulated CRI runtime: every RPC of runtime.v1 answered from memory, with no process run.
// Sandboxes (ready -> notready -> removed) and containers (created -> running -> exited ->
// removed) are state machines that behave as containerd 1.6 does for a kubelet: 64-hex IDs,
// nanosecond timestamps, metadata, labels and annotations kept as given, name reservation (one
// sandbox per pod name/namespace/uid/attempt, one container per name/attempt in a sandbox),
// NotFound with containerd's words for unknown IDs, idempotent stops and removes, StopPodSandbox
// killing the containers and RemovePodSandbox removing them, CRI log files, pod IPs.
//
// This file is the RPC surface and the indexes. What a container does is decided by its command
// (command.ts) and sim annotations (annotations.ts), and carried out by lifecycle.ts; ExecSync
// answers come from exec.ts, stats from stats.ts, the records are in objects.ts. Per-RPC latency
// and faults are switchable at run time (faults.ts).
//
// Scale: the runtime must hold 10,000 containers while the RPCs that name one object stay
// O(1). Objects live in maps by ID, with indexes by sandbox, by state and by name; timed work
// (a `sleep 30` ending, a stop timeout) goes into one scheduler (clock.ts) instead of a timer
// per container. Only the List RPCs walk objects, and they start from the narrowest index.
//
// Events (GetContainerEvents, CRI v1 since Kubernetes 1.26) go to subscribers as containerd 1.7
// sends them: created / started / stopped / deleted, for containers and for sandboxes (a sandbox
// is its pause container), each carrying the sandbox's status and all its containers' statuses.
// Changes are collected during the synchronous part of an RPC or a timer and sent on a microtask,
// so a status never shows a half-made change (an exit before its code is set). No subscriber, no cost.
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { Logger } from 'pino';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ContainerEventReply, CriEventSource, CriHandlers, DecodedRequestOf, ReplyOf, RpcName } from '../native/cri/api.js';
import { ALL_RPCS } from '../native/cri/api.js';
import { criError, criErrorFromGrpc } from '../native/cri/errors.js';
import { silentLogger } from '../log.js';
import type { LinuxContainerResources__Output } from '../gen/cri/runtime/v1/LinuxContainerResources.js';
import type { ContainerStats } from '../gen/cri/runtime/v1/ContainerStats.js';
import { ContainerLifecycle } from './lifecycle.js';
import { execAnswer } from './exec.js';
import { containerStats } from './stats.js';
import { defaultNodeFigures, effectiveNodeFigures, patchNodeFigures, SIM_NODE_INFO_KEY, type NodeFigures, type PodUsageOverride } from './node-figures.js';
import { hash32, hex64, type Container, type ContainerState, type Sandbox } from './objects.js';
import { realClock, Scheduler, type SimClock } from './clock.js';
import { parseBehaviour, parseExecAnswer, type ExecAnswer } from './annotations.js';
import { ContainerLog } from './logs.js';
import { isUnsafePathError, joinRelative } from '../util/safe-path.js';
import { IpPool } from './ipam.js';
import { DEFAULT_IMAGES, ImageStore, normalizeImageRef, type ImageSpecOption, type PullFailureRule, type SimImage } from './images.js';
import { RuleTable, seededRandom, validateFault, validateLatency, type FaultSpec, type GrpcCodeName, type LatencySpec } from './faults.js';

export const SIM_RUNTIME_NAME = 'kubelet-ts-sim';
export const SIM_RUNTIME_VERSION = '0.1.0';
export const DEFAULT_POD_CIDR = '10.88.0.0/16';
/** Exec, Attach and PortForward answer URLs shaped as containerd's (/exec/TOKEN, ...) under this base: port 0, nothing listens (no streaming server yet). */
export const SIM_STREAMING_BASE = 'http://127.0.0.1:0';

export interface SimRuntimeOptions {
  /** Seed for injected faults and latency jitter (default: random, see `sim.seed`). */
  seed?: number;
  clock?: SimClock;
  /** Pod IPs come from here (default 10.88.0.0/16). UpdateRuntimeConfig can change it. */
  podCidr?: string;
  /** Images present at start (default: busybox 1.35 and latest, pause 3.9 and 3.6). */
  images?: readonly (string | ImageSpecOption)[];
  pull?: { latencyMs?: number; failures?: readonly PullFailureRule[] };
  /** Per-RPC latency ('*' for all). */
  latency?: Readonly<Record<string, LatencySpec>>;
  /** Per-RPC faults ('*' for all). */
  faults?: Readonly<Record<string, FaultSpec>>;
  /** RunPodSandbox runtime handlers accepted besides '' (default: runc). */
  runtimeHandlers?: readonly string[];
  /** Mountpoint ImageFsInfo reports (default /var/lib/kubelet-ts-sim/io.containerd.snapshotter.v1.overlayfs). */
  imageFsMountpoint?: string;
  logger?: Logger;
}

export interface SimStats {
  sandboxes: { ready: number; notReady: number };
  containers: { created: number; running: number; exited: number };
  images: number;
  podIps: number;
  scheduledTimers: number;
  calls: Partial<Record<RpcName | 'GetContainerEvents', number>>;
  injectedErrors: Partial<Record<RpcName, number>>;
  injectedHangs: Partial<Record<RpcName, number>>;
  seed: number;
}

function matchesLabels(labels: Readonly<Record<string, string>>, selector: Readonly<Record<string, string>> | undefined): boolean {
  if (!selector) return true;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

function notFound(message: string): Error {
  return criError('KTS_CRI_NOT_FOUND', message);
}

function unknown(message: string): Error {
  // containerd answers most refusals with a plain Go error: gRPC Unknown.
  return criError('KTS_CRI_RUNTIME_ERROR', message);
}

function invalid(message: string): Error {
  return criError('KTS_CRI_INVALID_ARGUMENT', message);
}

/** The log file of a container: inside its sandbox's log directory, or refused. */
function containerLogFile(logDirectory: string, logPath: string): string {
  try {
    return joinRelative(logDirectory, logPath, 'log path');
  } catch (err) {
    if (isUnsafePathError(err)) throw invalid(`container log path refused: ${err.message}`);
    throw err;
  }
}

/** Absolute, no '..' segment, no NUL: a folder that is exactly what it says. */
function isCleanAbsolute(p: string): boolean {
  return posix.isAbsolute(p) && !p.split('/').includes('..') && !p.includes('\0');
}

const GRPC_NUM = GrpcStatus as unknown as Record<GrpcCodeName, number>;

const POD_UID_LABEL = 'io.kubernetes.pod.uid';

type SimEventType = 'CONTAINER_CREATED_EVENT' | 'CONTAINER_STARTED_EVENT' | 'CONTAINER_STOPPED_EVENT' | 'CONTAINER_DELETED_EVENT';

export class SimRuntime implements CriHandlers, CriEventSource {
  readonly seed: number;
  readonly clock: SimClock;
  readonly images: ImageStore;
  readonly scheduler: Scheduler;
  /** Per-RPC fault rules, switchable at run time. */
  readonly faults: RuleTable<FaultSpec>;
  /** Per-RPC latency rules, switchable at run time. */
  readonly latency: RuleTable<LatencySpec>;
  pullLatencyMs: number;
  podCidr: string;
  /** The simulated node's memory, filesystems and PIDs (node-figures.ts), settable at run time. */
  private figures: NodeFigures = defaultNodeFigures();
  /** Pod UID -> usage figures replacing the derived ones of its containers. */
  private readonly usage = new Map<string, PodUsageOverride>();

  private readonly random: () => number;
  private readonly log: Logger;
  private readonly sandboxes = new Map<string, Sandbox>();
  /**
   * Sandbox IDs by their io.kubernetes.pod.uid label: kubelets list one pod's sandboxes and
   * containers by that label on every sync, and a scan of every object made that O(N) per call
   * (O(N²) per burst) at thousands of pods. Containers are found through their pod's sandboxes.
   */
  private readonly sandboxesByPodUid = new Map<string, Set<string>>();
  private readonly containers = new Map<string, Container>();
  private readonly sandboxNames = new Map<string, string>();
  private readonly containerNames = new Map<string, string>();
  private readonly byState: Record<ContainerState, Set<string>> = {
    CONTAINER_CREATED: new Set(),
    CONTAINER_RUNNING: new Set(),
    CONTAINER_EXITED: new Set(),
  };
  private readonly pools = new Map<string, IpPool>();
  private pool: IpPool;
  private readonly hung = new Set<(err: Error) => void>();
  private readonly calls: Partial<Record<RpcName | 'GetContainerEvents', number>> = {};
  private readonly injectedErrors: Partial<Record<RpcName, number>> = {};
  private readonly injectedHangs: Partial<Record<RpcName, number>> = {};
  private readonly runtimeHandlers: Set<string>;
  private readonly imageFsMountpoint: string;
  private readonly life: ContainerLifecycle;
  private gated = false;
  private closed = false;
  private readonly subscribers = new Set<(e: ContainerEventReply) => void>();
  /** Changes not yet sent: object ID, its sandbox's ID, what happened, when (ns). */
  private pendingEvents: { id: string; sandboxId: string; type: SimEventType; at: number }[] = [];

  constructor(opts: SimRuntimeOptions = {}) {
    this.seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
    this.random = seededRandom(this.seed);
    this.clock = opts.clock ?? realClock;
    this.scheduler = new Scheduler(this.clock);
    this.log = (opts.logger ?? silentLogger).child({ component: 'sim-runtime' });
    this.podCidr = opts.podCidr ?? DEFAULT_POD_CIDR;
    this.pool = this.poolFor(this.podCidr);
    const preload = (opts.images ?? DEFAULT_IMAGES).map((i) => (typeof i === 'string' ? { name: i } : i));
    this.images = new ImageStore(preload);
    this.images.setPullFailures(opts.pull?.failures ?? [{ pattern: '*.invalid/*', message: 'not found' }]);
    this.pullLatencyMs = opts.pull?.latencyMs ?? 0;
    const refresh = (): void => {
      this.gated = this.faults.size > 0 || this.latency.size > 0;
    };
    this.faults = new RuleTable('faults', validateFault, refresh);
    this.latency = new RuleTable('latency', validateLatency, refresh);
    if (opts.faults) this.faults.replace(opts.faults);
    if (opts.latency) this.latency.replace(opts.latency);
    this.runtimeHandlers = new Set(['', ...(opts.runtimeHandlers ?? ['runc'])]);
    this.imageFsMountpoint = opts.imageFsMountpoint ?? '/var/lib/kubelet-ts-sim/io.containerd.snapshotter.v1.overlayfs';
    this.life = new ContainerLifecycle(this.scheduler, this.clock, (c, state) => this.setState(c, state), this.hung);
  }

  // ---- event stream ---------------------------------------------------------------------------

  /** GetContainerEvents: every change from now on, in order, until the returned function is called. */
  subscribeContainerEvents(emit: (e: ContainerEventReply) => void): () => void {
    this.calls.GetContainerEvents = (this.calls.GetContainerEvents ?? 0) + 1;
    this.subscribers.add(emit);
    return () => {
      this.subscribers.delete(emit);
    };
  }

  private event(id: string, sandboxId: string, type: SimEventType): void {
    if (this.subscribers.size === 0) return;
    if (this.pendingEvents.length === 0) queueMicrotask(() => this.flushEvents());
    // Wall-clock time, as a real runtime stamps its events (the sim clock may be virtual).
    this.pendingEvents.push({ id, sandboxId, type, at: Date.now() * 1e6 });
  }

  private flushEvents(): void {
    const batch = this.pendingEvents;
    this.pendingEvents = [];
    if (this.subscribers.size === 0) return;
    for (const p of batch) {
      const sb = this.sandboxes.get(p.sandboxId);
      const e: ContainerEventReply = {
        containerId: p.id,
        containerEventType: p.type,
        createdAt: p.at,
        podSandboxStatus: sb ? this.sandboxStatus(sb) : null,
        containersStatuses: sb
          ? [...sb.containers].flatMap((cid) => {
              const c = this.containers.get(cid);
              return c ? [this.containerStatus(c)] : [];
            })
          : [],
      };
      for (const emit of this.subscribers) {
        try {
          emit(e);
        } catch (err) {
          this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'an event subscriber failed');
        }
      }
    }
  }

  // ---- control surface (not CRI) ------------------------------------------------------------

  /** The node's figures as set: the node with no pod running. */
  get nodeFigures(): NodeFigures {
    return structuredClone(this.figures);
  }

  /** The figures with what the running containers use taken off (what the kubelet reads). */
  effectiveNodeFigures(): NodeFigures {
    const used = { workingSetBytes: 0, writableLayerBytes: 0, writableLayerInodes: 0, containers: 0, imageBytes: this.images.totalBytes };
    for (const id of this.byState.CONTAINER_RUNNING) {
      const c = this.containers.get(id);
      if (!c) continue;
      const s = this.statsOf(c);
      used.workingSetBytes += Number(s.memory?.workingSetBytes?.value ?? 0);
      used.writableLayerBytes += Number(s.writableLayer?.usedBytes?.value ?? 0);
      used.writableLayerInodes += Number(s.writableLayer?.inodesUsed?.value ?? 0);
      used.containers++;
    }
    return effectiveNodeFigures(this.figures, used);
  }

  /** Applies a partial NodeFigures (throws naming a bad field, changing nothing); returns the result. */
  setNodeFigures(patch: unknown): NodeFigures {
    this.figures = patchNodeFigures(this.figures, patch);
    return this.nodeFigures;
  }

  /** Usage figures for every container of a pod (undefined: back to the derived ones). */
  setPodUsage(podUid: string, override: PodUsageOverride | undefined): void {
    if (override) this.usage.set(podUid, { ...override });
    else this.usage.delete(podUid);
  }

  podUsage(): Record<string, PodUsageOverride> {
    return Object.fromEntries(this.usage);
  }

  /** Counts for dashboards, the control API and tests. */
  stats(): SimStats {
    let ready = 0;
    for (const s of this.sandboxes.values()) if (s.state === 'SANDBOX_READY') ready++;
    let podIps = 0;
    for (const p of this.pools.values()) podIps += p.inUse;
    return {
      sandboxes: { ready, notReady: this.sandboxes.size - ready },
      containers: {
        created: this.byState.CONTAINER_CREATED.size,
        running: this.byState.CONTAINER_RUNNING.size,
        exited: this.byState.CONTAINER_EXITED.size,
      },
      images: this.images.count,
      podIps,
      scheduledTimers: this.scheduler.size,
      calls: { ...this.calls },
      injectedErrors: { ...this.injectedErrors },
      injectedHangs: { ...this.injectedHangs },
      seed: this.seed,
    };
  }

  /**
   * Sets what ExecSync answers for `cmdLine` (the cmd argv joined with spaces, or '*' for any
   * other command) in one container; `undefined` removes the answer. Wins over annotations.
   */
  setExecSync(containerId: string, cmdLine: string, answer: Partial<ExecAnswer> | undefined): void {
    const c = this.containers.get(containerId);
    if (!c) throw notFound(`container "${containerId}" not found`);
    if (answer === undefined) c.execAnswers.delete(cmdLine);
    else c.execAnswers.set(cmdLine, parseExecAnswer(answer, `exec answer for ${JSON.stringify(cmdLine)}`));
  }

  /**
   * Chaos: the container's process dies now, as if killed from outside the runtime (exit code
   * `code`, default 137; reason `Error`, or `OOMKilled` when asked). Returns false when the
   * container is not running (nothing changes). Crash-storm benchmarks and chaos tests use it.
   */
  crashContainer(containerId: string, opts: { code?: number; oom?: boolean } = {}): boolean {
    const c = this.containers.get(containerId);
    if (!c) throw notFound(`container "${containerId}" not found`);
    if (c.state !== 'CONTAINER_RUNNING') return false;
    this.life.finish(c, opts.code ?? 137, opts.oom ? 'OOMKilled' : 'Error');
    return true;
  }

  /** Sets the pull failure rules (glob or /regex/ over the image reference). */
  setPullFailures(rules: readonly PullFailureRule[]): void {
    for (const r of rules) {
      if (r.code !== undefined && !(r.code in GRPC_NUM)) throw new Error(`pull failure for ${r.pattern}: unknown gRPC code ${JSON.stringify(r.code)}`);
    }
    this.images.setPullFailures(rules);
  }

  /** Resolves once every log line written so far is on disk. */
  async flushLogs(): Promise<void> {
    await Promise.all([...this.containers.values()].map((c) => c.log?.flush() ?? Promise.resolve()));
  }

  /** Stops every timer and answers hung calls with UNAVAILABLE. The state is dropped. */
  async close(): Promise<void> {
    this.subscribers.clear(); // no event after close
    this.pendingEvents = [];
    if (this.closed) return;
    this.closed = true;
    this.scheduler.close();
    for (const reject of this.hung) reject(criErrorFromGrpc(GrpcStatus.UNAVAILABLE, 'sim runtime is shutting down'));
    this.hung.clear();
    await this.flushLogs();
  }

  // ---- runtime service ------------------------------------------------------------------------

  async Version(req: DecodedRequestOf<'Version'>): Promise<ReplyOf<'Version'>> {
    await this.gate('Version');
    void req;
    return { version: '0.1.0', runtimeName: SIM_RUNTIME_NAME, runtimeVersion: SIM_RUNTIME_VERSION, runtimeApiVersion: 'v1' };
  }

  async Status(req: DecodedRequestOf<'Status'>): Promise<ReplyOf<'Status'>> {
    await this.gate('Status');
    const reply: ReplyOf<'Status'> = {
      status: {
        conditions: [
          { type: 'RuntimeReady', status: true, reason: '', message: '' },
          { type: 'NetworkReady', status: true, reason: '', message: '' },
        ],
      },
    };
    if (req.verbose)
      reply.info = { config: JSON.stringify({ podCidr: this.podCidr, seed: this.seed }), [SIM_NODE_INFO_KEY]: JSON.stringify(this.effectiveNodeFigures()) };
    return reply;
  }

  async UpdateRuntimeConfig(req: DecodedRequestOf<'UpdateRuntimeConfig'>): Promise<ReplyOf<'UpdateRuntimeConfig'>> {
    await this.gate('UpdateRuntimeConfig');
    const cidr = req.runtimeConfig?.networkConfig?.podCidr ?? '';
    if (cidr !== '') {
      // containerd renders this into its CNI config; here it becomes the range new pods get.
      // Addresses already given stay valid until their sandbox stops.
      const first = cidr.split(',')[0]?.trim() ?? '';
      try {
        this.pool = this.poolFor(first);
      } catch (err) {
        throw invalid(err instanceof Error ? err.message : String(err));
      }
      this.podCidr = first;
    }
    return {};
  }

  async RunPodSandbox(req: DecodedRequestOf<'RunPodSandbox'>): Promise<ReplyOf<'RunPodSandbox'>> {
    await this.gate('RunPodSandbox');
    const config = req.config;
    const md = config?.metadata;
    // containerd answers gRPC Unknown with these words (the behaviour suite checks both).
    if (!config || !md) throw unknown('sandbox config must include metadata');
    // The runtime is a trust boundary of its own: where it writes logs is checked here, not
    // taken on the kubelet's word (containerd would write wherever it is told).
    if (config.logDirectory !== '' && !isCleanAbsolute(config.logDirectory))
      throw invalid(`log directory ${JSON.stringify(config.logDirectory)} must be an absolute path without '..'`);
    const name = `${md.name}_${md.namespace}_${md.uid}_${md.attempt}`;
    const holder = this.sandboxNames.get(name);
    if (holder !== undefined) throw unknown(`failed to reserve sandbox name "${name}": name "${name}" is reserved for "${holder}"`);
    if (!this.runtimeHandlers.has(req.runtimeHandler)) {
      throw unknown(`failed to get sandbox runtime: no runtime for ${JSON.stringify(req.runtimeHandler)} is configured`);
    }
    const hostNetwork = config.linux?.securityContext?.namespaceOptions?.network === 'NODE';
    let ip = '';
    let pool: IpPool | undefined;
    if (!hostNetwork) {
      pool = this.pool;
      ip = pool.allocate() ?? '';
      if (ip === '') throw unknown(`failed to setup network for sandbox: no IP addresses available in range set: ${pool.cidr}`);
    }
    const id = hex64();
    const sandbox: Sandbox = {
      id,
      name,
      config,
      state: 'SANDBOX_READY',
      createdAt: this.nowNs(),
      ip,
      pool,
      runtimeHandler: req.runtimeHandler,
      containers: new Set(),
      hostNetwork,
    };
    this.sandboxes.set(id, sandbox);
    const podUid = sandbox.config.labels?.[POD_UID_LABEL];
    if (podUid !== undefined) {
      let set = this.sandboxesByPodUid.get(podUid);
      if (!set) this.sandboxesByPodUid.set(podUid, (set = new Set()));
      set.add(id);
    }
    this.sandboxNames.set(name, id);
    this.event(id, id, 'CONTAINER_CREATED_EVENT');
    this.event(id, id, 'CONTAINER_STARTED_EVENT');
    return { podSandboxId: id };
  }

  async StopPodSandbox(req: DecodedRequestOf<'StopPodSandbox'>): Promise<ReplyOf<'StopPodSandbox'>> {
    await this.gate('StopPodSandbox');
    const sb = this.sandbox(req.podSandboxId);
    if (!sb) throw notFound(`an error occurred when try to find sandbox "${req.podSandboxId}": not found`);
    this.stopSandbox(sb);
    return {};
  }

  async RemovePodSandbox(req: DecodedRequestOf<'RemovePodSandbox'>): Promise<ReplyOf<'RemovePodSandbox'>> {
    await this.gate('RemovePodSandbox');
    const sb = this.sandbox(req.podSandboxId);
    if (!sb) return {}; // already gone: containerd answers success
    this.stopSandbox(sb);
    for (const cid of [...sb.containers]) {
      const c = this.containers.get(cid);
      if (c) this.removeContainer(c);
    }
    this.sandboxes.delete(sb.id);
    this.sandboxNames.delete(sb.name);
    const podUid = sb.config.labels?.[POD_UID_LABEL];
    if (podUid !== undefined) {
      const set = this.sandboxesByPodUid.get(podUid);
      set?.delete(sb.id);
      if (set?.size === 0) this.sandboxesByPodUid.delete(podUid);
    }
    this.event(sb.id, sb.id, 'CONTAINER_DELETED_EVENT');
    return {};
  }

  async PodSandboxStatus(req: DecodedRequestOf<'PodSandboxStatus'>): Promise<ReplyOf<'PodSandboxStatus'>> {
    await this.gate('PodSandboxStatus');
    const sb = this.sandbox(req.podSandboxId);
    if (!sb) throw notFound(`an error occurred when try to find sandbox: not found`);
    const reply: ReplyOf<'PodSandboxStatus'> = { status: this.sandboxStatus(sb) };
    if (req.verbose) {
      reply.info = {
        info: JSON.stringify({ pid: sb.state === 'SANDBOX_READY' ? 1000 + (hash32(sb.id) % 30000) : 0, runtimeHandler: sb.runtimeHandler, config: sb.config }),
      };
    }
    return reply;
  }

  async ListPodSandbox(req: DecodedRequestOf<'ListPodSandbox'>): Promise<ReplyOf<'ListPodSandbox'>> {
    await this.gate('ListPodSandbox');
    const f = req.filter;
    let candidates: Iterable<Sandbox> = this.sandboxes.values();
    if (f?.id) {
      const exact = this.sandboxes.get(f.id);
      candidates = exact ? [exact] : f.id.length >= 64 ? [] : [...this.sandboxes.values()].filter((s) => s.id.startsWith(f.id));
    } else if (f?.labelSelector?.[POD_UID_LABEL] !== undefined) {
      candidates = this.sandboxesOfPod(f.labelSelector[POD_UID_LABEL]);
    }
    const items: NonNullable<ReplyOf<'ListPodSandbox'>['items']> = [];
    for (const sb of candidates) {
      if (f?.state && sb.state !== f.state.state) continue;
      if (!matchesLabels(sb.config.labels, f?.labelSelector)) continue;
      items.push({
        id: sb.id,
        metadata: sb.config.metadata,
        state: sb.state,
        createdAt: sb.createdAt,
        labels: sb.config.labels,
        annotations: sb.config.annotations,
        runtimeHandler: sb.runtimeHandler,
      });
    }
    return { items };
  }

  async CreateContainer(req: DecodedRequestOf<'CreateContainer'>): Promise<ReplyOf<'CreateContainer'>> {
    await this.gate('CreateContainer');
    const sb = this.sandbox(req.podSandboxId);
    if (!sb) throw notFound(`failed to find sandbox id "${req.podSandboxId}": not found`);
    // A stopped sandbox has no running task to join: containerd answers NotFound.
    if (sb.state !== 'SANDBOX_READY') throw notFound(`failed to get sandbox container task: no running task found: task ${sb.id} not found: not found`);
    const config = req.config;
    const md = config?.metadata;
    if (!config || !md) throw unknown('container config must include metadata');
    // As containerd: the name and the log path come from the request's sandbox config.
    const sbMd = req.sandboxConfig?.metadata;
    const name = `${md.name}_${sbMd?.name ?? ''}_${sbMd?.namespace ?? ''}_${sbMd?.uid ?? ''}_${md.attempt}`;
    const holder = this.containerNames.get(name);
    if (holder !== undefined) throw unknown(`failed to reserve container name "${name}": name "${name}" is reserved for "${holder}"`);
    const imageSpec = config.image?.image ?? '';
    const image = this.images.resolve(imageSpec);
    if (!image) throw notFound(`failed to resolve image "${imageSpec}": not found`);
    const behaviour = parseBehaviour(config.annotations);
    const logDirectory = req.sandboxConfig?.logDirectory ?? '';
    if (logDirectory !== '' && !isCleanAbsolute(logDirectory))
      throw invalid(`log directory ${JSON.stringify(logDirectory)} must be an absolute path without '..'`);
    const logPath = config.logPath !== '' && logDirectory !== '' ? containerLogFile(logDirectory, config.logPath) : '';
    const id = hex64();
    const c: Container = {
      id,
      name,
      sandboxId: sb.id,
      config,
      imageSpec,
      image,
      state: 'CONTAINER_CREATED',
      createdAt: this.nowNs(),
      startedAt: 0,
      finishedAt: 0,
      exitCode: 0,
      reason: '',
      message: '',
      logPath,
      log: logPath === '' ? undefined : new ContainerLog(logPath, this.log),
      behaviour,
      program: undefined,
      pc: 0,
      startedMs: 0,
      timers: [],
      wake: undefined,
      ticker: undefined,
      exitWaiters: [],
      termSent: false,
      files: new Map(),
      execAnswers: new Map(),
      resources: config.linux?.resources ?? null,
      logSeq: 0,
    };
    this.containers.set(id, c);
    this.containerNames.set(name, id);
    this.byState.CONTAINER_CREATED.add(id);
    sb.containers.add(id);
    this.event(id, sb.id, 'CONTAINER_CREATED_EVENT');
    return { containerId: id };
  }

  async StartContainer(req: DecodedRequestOf<'StartContainer'>): Promise<ReplyOf<'StartContainer'>> {
    await this.gate('StartContainer');
    const c = this.container(req.containerId, `an error occurred when try to find container "${req.containerId}"`);
    if (c.state !== 'CONTAINER_CREATED') throw unknown(`container is in ${c.state} state`);
    const sb = this.sandboxes.get(c.sandboxId);
    // containerd leaves a container that failed to start (past the state check) exited with
    // 128 / StartError and the error as its message.
    if (!sb || sb.state !== 'SANDBOX_READY') throw this.life.startFailed(c, `sandbox container "${c.sandboxId}" is not running`);
    if (c.behaviour.startError !== undefined) {
      throw this.life.startFailed(c, `failed to create containerd task: failed to create shim task: OCI runtime create failed: ${c.behaviour.startError}`);
    }
    this.life.start(c, sb);
    return {};
  }

  async StopContainer(req: DecodedRequestOf<'StopContainer'>): Promise<ReplyOf<'StopContainer'>> {
    await this.gate('StopContainer');
    const c = this.container(req.containerId, `an error occurred when try to find container "${req.containerId}"`);
    await this.life.stop(c, Number(req.timeout));
    return {};
  }

  async RemoveContainer(req: DecodedRequestOf<'RemoveContainer'>): Promise<ReplyOf<'RemoveContainer'>> {
    await this.gate('RemoveContainer');
    const c = this.containers.get(req.containerId) ?? this.byPrefix(this.containers, req.containerId);
    if (!c) return {}; // idempotent, as containerd
    this.removeContainer(c);
    return {};
  }

  async ListContainers(req: DecodedRequestOf<'ListContainers'>): Promise<ReplyOf<'ListContainers'>> {
    await this.gate('ListContainers');
    const containers: NonNullable<ReplyOf<'ListContainers'>['containers']> = [];
    for (const c of this.select(req.filter?.id, req.filter?.podSandboxId, req.filter?.state?.state, req.filter?.labelSelector)) {
      containers.push({
        id: c.id,
        podSandboxId: c.sandboxId,
        metadata: c.config.metadata,
        image: c.config.image,
        imageRef: c.image?.id ?? '',
        state: c.state,
        createdAt: c.createdAt,
        labels: c.config.labels,
        annotations: c.config.annotations,
      });
    }
    return { containers };
  }

  async ContainerStatus(req: DecodedRequestOf<'ContainerStatus'>): Promise<ReplyOf<'ContainerStatus'>> {
    await this.gate('ContainerStatus');
    const c = this.container(req.containerId, `an error occurred when try to find container "${req.containerId}"`);
    const reply: ReplyOf<'ContainerStatus'> = { status: this.containerStatus(c) };
    if (req.verbose) {
      reply.info = {
        info: JSON.stringify({
          sandboxID: c.sandboxId,
          pid: c.state === 'CONTAINER_RUNNING' ? 1000 + (hash32(c.id) % 30000) : 0,
          removing: false,
          snapshotKey: c.id,
          snapshotter: 'overlayfs',
          runtimeType: 'io.containerd.runc.v2',
          config: c.config,
        }),
      };
    }
    return reply;
  }

  async UpdateContainerResources(req: DecodedRequestOf<'UpdateContainerResources'>): Promise<ReplyOf<'UpdateContainerResources'>> {
    await this.gate('UpdateContainerResources');
    const c = this.container(req.containerId, `failed to find container`);
    if (c.state !== 'CONTAINER_RUNNING' && c.state !== 'CONTAINER_CREATED') throw unknown(`container "${c.id}" is in ${c.state} state`);
    if (req.linux) c.resources = req.linux;
    return {};
  }

  /** The resources a container was created with or last updated to (not CRI). */
  resourcesOf(containerId: string): LinuxContainerResources__Output | null {
    return this.containers.get(containerId)?.resources ?? null;
  }

  async ReopenContainerLog(req: DecodedRequestOf<'ReopenContainerLog'>): Promise<ReplyOf<'ReopenContainerLog'>> {
    await this.gate('ReopenContainerLog');
    const c = this.container(req.containerId, `failed to find container "${req.containerId}"`);
    if (c.state !== 'CONTAINER_RUNNING') throw unknown('container is not running');
    await c.log?.reopen();
    return {};
  }

  async ExecSync(req: DecodedRequestOf<'ExecSync'>): Promise<ReplyOf<'ExecSync'>> {
    await this.gate('ExecSync');
    const c = this.container(req.containerId, `failed to find container "${req.containerId}" in store`);
    if (c.state !== 'CONTAINER_RUNNING') throw unknown(`container is in ${c.state} state`);
    if (req.cmd.length === 0) throw invalid('exec cmd must not be empty');
    const timeoutMs = Number(req.timeout) * 1000;
    const answer = execAnswer(c, this.sandboxes.get(c.sandboxId)?.config.hostname ?? '', req.cmd);
    if (timeoutMs > 0 && answer.ms > timeoutMs) {
      await this.delay(timeoutMs, 'ExecSync');
      throw criError('KTS_CRI_DEADLINE_EXCEEDED', `failed to exec in container: timeout ${Number(req.timeout)}s exceeded: context deadline exceeded`);
    }
    if (answer.ms > 0) await this.delay(answer.ms, 'ExecSync');
    answer.apply();
    return { stdout: Buffer.from(answer.stdout), stderr: Buffer.from(answer.stderr), exitCode: answer.exitCode };
  }

  async Exec(req: DecodedRequestOf<'Exec'>): Promise<ReplyOf<'Exec'>> {
    await this.gate('Exec');
    const c = this.container(req.containerId, `failed to find container "${req.containerId}" in store`);
    if (c.state !== 'CONTAINER_RUNNING') throw unknown(`container is in ${c.state} state`);
    if (req.cmd.length === 0) throw invalid('exec cmd must not be empty');
    if (!req.stdin && !req.stdout && !req.stderr) throw invalid('one of stdin, stdout, or stderr must be set');
    return { url: `${SIM_STREAMING_BASE}/exec/${randomBytes(8).toString('hex')}` };
  }

  async Attach(req: DecodedRequestOf<'Attach'>): Promise<ReplyOf<'Attach'>> {
    await this.gate('Attach');
    const c = this.container(req.containerId, `failed to find container "${req.containerId}" in store`);
    if (c.state !== 'CONTAINER_RUNNING') throw unknown(`container is in ${c.state} state`);
    return { url: `${SIM_STREAMING_BASE}/attach/${randomBytes(8).toString('hex')}` };
  }

  async PortForward(req: DecodedRequestOf<'PortForward'>): Promise<ReplyOf<'PortForward'>> {
    await this.gate('PortForward');
    const sb = this.sandbox(req.podSandboxId);
    if (!sb) throw notFound(`failed to find sandbox "${req.podSandboxId}" in store: not found`);
    if (sb.state !== 'SANDBOX_READY') throw unknown(`sandbox "${sb.id}" is not running`);
    return { url: `${SIM_STREAMING_BASE}/portforward/${randomBytes(8).toString('hex')}` };
  }

  async ContainerStats(req: DecodedRequestOf<'ContainerStats'>): Promise<ReplyOf<'ContainerStats'>> {
    await this.gate('ContainerStats');
    const c = this.container(req.containerId, `failed to find container`);
    return { stats: this.statsOf(c) };
  }

  async ListContainerStats(req: DecodedRequestOf<'ListContainerStats'>): Promise<ReplyOf<'ListContainerStats'>> {
    await this.gate('ListContainerStats');
    const f = req.filter;
    const stats: ContainerStats[] = [];
    for (const c of this.select(f?.id, f?.podSandboxId, undefined, f?.labelSelector)) stats.push(this.statsOf(c));
    return { stats };
  }

  private statsOf(c: Container): ContainerStats {
    return containerStats(c, this.clock.now(), this.imageFsMountpoint, this.usage.get(this.sandboxes.get(c.sandboxId)?.config.labels?.[POD_UID_LABEL] ?? ''));
  }

  // ---- image service --------------------------------------------------------------------------

  async ListImages(req: DecodedRequestOf<'ListImages'>): Promise<ReplyOf<'ListImages'>> {
    await this.gate('ListImages');
    const want = req.filter?.image?.image ?? '';
    let images = this.images.list();
    if (want !== '') {
      const one = this.images.resolve(want);
      images = one ? [one] : [];
    }
    return { images: images.map((i) => this.imageReply(i)) };
  }

  async ImageStatus(req: DecodedRequestOf<'ImageStatus'>): Promise<ReplyOf<'ImageStatus'>> {
    await this.gate('ImageStatus');
    const ref = req.image?.image ?? '';
    const image = this.images.resolve(ref);
    if (!image) return { image: null, info: {} }; // unknown image: no status, no error (containerd)
    const reply: ReplyOf<'ImageStatus'> = { image: this.imageReply(image) };
    if (req.verbose) reply.info = { info: JSON.stringify({ id: image.id, size: image.size }) };
    return reply;
  }

  async PullImage(req: DecodedRequestOf<'PullImage'>): Promise<ReplyOf<'PullImage'>> {
    await this.gate('PullImage');
    const ref = req.image?.image ?? '';
    if (ref === '') throw invalid('image reference must not be empty');
    if (this.pullLatencyMs > 0) await this.delay(this.pullLatencyMs, 'PullImage');
    const failure = this.images.pullFailure(ref);
    if (failure) {
      const code = GRPC_NUM[(failure.code ?? 'NOT_FOUND') as GrpcCodeName] ?? GrpcStatus.NOT_FOUND;
      const normalized = normalizeImageRef(ref);
      throw criErrorFromGrpc(
        code,
        `failed to pull and unpack image "${normalized}": failed to resolve reference "${normalized}": ${failure.message ?? `${normalized}: not found`}`,
      );
    }
    const image = this.images.resolve(ref) ?? this.images.add(ref, 2 * 1024 * 1024 + (hash32(ref) % (30 * 1024 * 1024)));
    return { imageRef: image.id };
  }

  async RemoveImage(req: DecodedRequestOf<'RemoveImage'>): Promise<ReplyOf<'RemoveImage'>> {
    await this.gate('RemoveImage');
    this.images.remove(req.image?.image ?? ''); // unknown images: success, as containerd
    return {};
  }

  async ImageFsInfo(req: DecodedRequestOf<'ImageFsInfo'>): Promise<ReplyOf<'ImageFsInfo'>> {
    await this.gate('ImageFsInfo');
    void req;
    return {
      imageFilesystems: [
        {
          timestamp: this.nowNs(),
          fsId: { mountpoint: this.imageFsMountpoint },
          usedBytes: { value: this.images.totalBytes },
          inodesUsed: { value: this.images.count * 250 },
        },
      ],
    };
  }

  // ---- internals ------------------------------------------------------------------------------

  private nowNs(): number {
    return Math.round(this.clock.now() * 1e6);
  }

  private poolFor(cidr: string): IpPool {
    const pool = new IpPool(cidr);
    const existing = this.pools.get(pool.cidr);
    if (existing) return existing;
    this.pools.set(pool.cidr, pool);
    return pool;
  }

  private container(id: string, what: string): Container {
    const c = this.containers.get(id) ?? this.byPrefix(this.containers, id);
    if (!c) throw notFound(`${what}: not found`);
    return c;
  }

  /**
   * containerd accepts a unique ID prefix wherever an ID goes (crictl users type 12 digits).
   * Full 64-digit IDs never get here on a miss, so unknown IDs stay O(1).
   */
  private byPrefix<T>(map: Map<string, T>, prefix: string): T | undefined {
    if (prefix === '' || prefix.length >= 64) return undefined;
    let found: T | undefined;
    for (const [id, v] of map) {
      if (!id.startsWith(prefix)) continue;
      if (found !== undefined) return undefined; // ambiguous
      found = v;
    }
    return found;
  }

  private sandbox(id: string): Sandbox | undefined {
    return this.sandboxes.get(id) ?? this.byPrefix(this.sandboxes, id);
  }

  private setState(c: Container, state: ContainerState): void {
    this.byState[c.state].delete(c.id);
    c.state = state;
    this.byState[state].add(c.id);
    if (state === 'CONTAINER_RUNNING') this.event(c.id, c.sandboxId, 'CONTAINER_STARTED_EVENT');
    else if (state === 'CONTAINER_EXITED') this.event(c.id, c.sandboxId, 'CONTAINER_STOPPED_EVENT');
  }

  private sandboxStatus(sb: Sandbox): NonNullable<ReplyOf<'PodSandboxStatus'>['status']> {
    return {
      id: sb.id,
      metadata: sb.config.metadata,
      state: sb.state,
      createdAt: sb.createdAt,
      network: { ip: sb.ip, additionalIps: [] },
      linux: { namespaces: { options: sb.config.linux?.securityContext?.namespaceOptions ?? null } },
      labels: sb.config.labels,
      annotations: sb.config.annotations,
      runtimeHandler: sb.runtimeHandler,
    };
  }

  private containerStatus(c: Container): NonNullable<ReplyOf<'ContainerStatus'>['status']> {
    return {
      id: c.id,
      metadata: c.config.metadata,
      state: c.state,
      createdAt: c.createdAt,
      startedAt: c.startedAt,
      finishedAt: c.finishedAt,
      exitCode: c.exitCode,
      // As containerd: the image's first tag and first repo digest when it is still known.
      image: { image: c.image?.repoTags[0] ?? c.imageSpec, annotations: c.config.image?.annotations ?? {} },
      imageRef: c.image?.repoDigests[0] ?? c.image?.id ?? '',
      reason: c.reason,
      message: c.message,
      labels: c.config.labels,
      annotations: c.config.annotations,
      mounts: c.config.mounts,
      logPath: c.logPath,
    };
  }

  private *sandboxesOfPod(uid: string): Generator<Sandbox> {
    for (const id of this.sandboxesByPodUid.get(uid) ?? []) {
      const sb = this.sandboxes.get(id);
      if (sb) yield sb;
    }
  }

  /** Containers matching a filter, starting from the narrowest index. */
  private *select(
    id: string | undefined,
    sandboxId: string | undefined,
    state: string | undefined,
    labels: Readonly<Record<string, string>> | undefined,
  ): Generator<Container> {
    let ids: Iterable<string>;
    if (id) {
      ids = this.containers.has(id) ? [id] : id.length >= 64 ? [] : [...this.containers.keys()].filter((k) => k.startsWith(id));
    } else if (sandboxId) {
      ids = this.sandboxes.get(sandboxId)?.containers ?? [];
    } else if (labels?.[POD_UID_LABEL] !== undefined) {
      ids = [...this.sandboxesOfPod(labels[POD_UID_LABEL])].flatMap((sb) => [...sb.containers]);
    } else if (state && state in this.byState) {
      ids = this.byState[state as ContainerState];
    } else if (state) {
      ids = []; // CONTAINER_UNKNOWN: the sim never loses track of a container
    } else {
      ids = this.containers.keys();
    }
    for (const cid of ids) {
      const c = this.containers.get(cid);
      if (!c) continue;
      if (sandboxId && c.sandboxId !== sandboxId) continue;
      if (state && c.state !== state) continue;
      if (!matchesLabels(c.config.labels, labels)) continue;
      yield c;
    }
  }

  private stopSandbox(sb: Sandbox): void {
    // containerd kills the containers of a sandbox being stopped (timeout 0: SIGKILL).
    for (const cid of sb.containers) {
      const c = this.containers.get(cid);
      if (c?.state === 'CONTAINER_RUNNING') this.life.finish(c, 137, 'Error');
    }
    if (sb.state === 'SANDBOX_READY') {
      sb.state = 'SANDBOX_NOTREADY';
      if (sb.pool && sb.ip !== '') sb.pool.release(sb.ip);
      sb.ip = ''; // the network namespace is gone: containerd reports no IP
      this.event(sb.id, sb.id, 'CONTAINER_STOPPED_EVENT');
    }
  }

  private removeContainer(c: Container): void {
    if (c.state === 'CONTAINER_RUNNING') this.life.finish(c, 137, 'Error');
    this.byState[c.state].delete(c.id);
    this.containers.delete(c.id);
    this.containerNames.delete(c.name);
    this.sandboxes.get(c.sandboxId)?.containers.delete(c.id);
    this.event(c.id, c.sandboxId, 'CONTAINER_DELETED_EVENT');
  }

  private imageReply(i: SimImage): NonNullable<ReplyOf<'ListImages'>['images']>[number] {
    return { id: i.id, repoTags: i.repoTags, repoDigests: i.repoDigests, size: i.size, uid: { value: 0 }, username: '', spec: null };
  }

  /** Waits on the sim clock; a closing runtime releases the wait with UNAVAILABLE. */
  private delay(ms: number, rpc: RpcName): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const release = (err: Error): void => reject(err);
      this.hung.add(release);
      this.scheduler.after(ms, () => {
        this.hung.delete(release);
        resolve();
      });
      void rpc;
    });
  }

  /** Latency and fault injection in front of every RPC. */
  private gate(rpc: RpcName): Promise<void> | undefined {
    this.calls[rpc] = (this.calls[rpc] ?? 0) + 1;
    if (this.closed) return Promise.reject(criErrorFromGrpc(GrpcStatus.UNAVAILABLE, 'sim runtime is shut down'));
    if (!this.gated) return undefined;
    const lat = this.latency.get(rpc);
    const fault = this.faults.take(rpc);
    let ms = 0;
    if (lat) ms += lat.fixedMs + (lat.jitterMs ? this.random() * lat.jitterMs : 0);
    if (fault?.slowMs) ms += fault.slowMs;
    if (fault && (fault.hang === true || (fault.hangRate !== undefined && this.random() < fault.hangRate))) {
      this.injectedHangs[rpc] = (this.injectedHangs[rpc] ?? 0) + 1;
      return new Promise<void>((_resolve, reject) => {
        this.hung.add(reject);
      });
    }
    let failure: Error | undefined;
    if (fault?.errorRate !== undefined && this.random() < fault.errorRate) {
      this.injectedErrors[rpc] = (this.injectedErrors[rpc] ?? 0) + 1;
      const name = fault.code ?? 'UNAVAILABLE';
      failure = criErrorFromGrpc(GRPC_NUM[name], fault.message ?? `sim: injected ${name} for ${rpc}`);
    }
    if (ms <= 0) return failure ? Promise.reject(failure) : undefined;
    return this.delay(ms, rpc).then(() => {
      if (failure) throw failure;
    });
  }
}

/** All RPC names the sim answers (every CRI RPC). */
export const SIM_RPCS: readonly RpcName[] = ALL_RPCS;
