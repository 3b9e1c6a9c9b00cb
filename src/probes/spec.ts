// What the probe thread is told about pods, and a container's probes in a form ready to run:
// upstream defaults filled in (period 10 s, timeout 1 s, success 1, failure 3, delay 0), the
// handler resolved (a port name becomes the container port's number, the host defaults to the
// pod IP). Plain data: it crosses from the main thread to the probe thread by structured clone.
import type { Container, Probe } from '../api/core-v1.js';

/** The three probes of a container, as upstream names them in lower case. */
export type ProbeKind = 'liveness' | 'readiness' | 'startup';

export const PROBE_KINDS: readonly ProbeKind[] = ['startup', 'liveness', 'readiness'];

/** Upstream names, as in events and metric labels. */
export function probeKindName(kind: ProbeKind): 'Liveness' | 'Readiness' | 'Startup' {
  switch (kind) {
    case 'liveness':
      return 'Liveness';
    case 'readiness':
      return 'Readiness';
    case 'startup':
      return 'Startup';
  }
}

/** A worker's published result; `unknown` until a startup probe has answered. */
export type ProbeResult = 'success' | 'failure' | 'unknown';

/** One probe run's outcome: a warning counts as success, an unknown (errored) run is thrown away. */
export interface ProbeOutcome {
  result: 'success' | 'failure' | 'warning' | 'unknown';
  message: string;
}

/** Upstream's initial results: readiness failure until it succeeds, liveness success, startup unknown. */
export function initialResult(kind: ProbeKind): ProbeResult {
  switch (kind) {
    case 'readiness':
      return 'failure';
    case 'liveness':
      return 'success';
    case 'startup':
      return 'unknown';
  }
}

/** One worker per pod UID, container and probe kind. */
export function workerKey(podUid: string, container: string, kind: ProbeKind): string {
  return `${podUid}/${container}/${kind}`;
}

export type ProbeHandler =
  | { type: 'exec'; command: string[] }
  | { type: 'httpGet'; host: string; port: number; path: string; scheme: 'HTTP' | 'HTTPS'; headers: { name: string; value: string }[] }
  | { type: 'tcpSocket'; host: string; port: number }
  | { type: 'grpc'; host: string; port: number; service: string }
  /** The spec cannot be run (a port name no container port has): every attempt errors. */
  | { type: 'invalid'; message: string };

export interface ProbeTiming {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
}

export interface ContainerProbe {
  kind: ProbeKind;
  timing: ProbeTiming;
  handler: ProbeHandler;
}

/** One running container the probe thread should probe (only containers that have probes). */
export interface ProbeContainerTarget {
  name: string;
  /** CRI ID of the running container; results are kept per ID. */
  containerId: string;
  /** When it started (epoch ms): initialDelaySeconds counts from here. */
  startedAt: number;
  probes: ContainerProbe[];
}

export interface ProbePodTarget {
  uid: string;
  name: string;
  namespace: string;
  containers: ProbeContainerTarget[];
}

function positive(v: number | undefined, dflt: number): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : dflt;
}

export function probeTiming(p: Probe): ProbeTiming {
  return {
    initialDelayMs: Math.max(0, p.initialDelaySeconds ?? 0) * 1000,
    periodMs: positive(p.periodSeconds, 10) * 1000,
    timeoutMs: positive(p.timeoutSeconds, 1) * 1000,
    successThreshold: positive(p.successThreshold, 1),
    failureThreshold: positive(p.failureThreshold, 3),
  };
}

/** A port by number, or by the name of one of the container's ports (upstream findPortByName). */
function resolvePort(port: number | string, c: Container): number | string {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const found = c.ports?.find((p) => p.name === port);
  if (!found) return `couldn't find port ${port} in ${c.name}`;
  return found.containerPort;
}

export function probeHandler(p: Probe, c: Container, podIP: string): ProbeHandler {
  if (p.exec) return { type: 'exec', command: p.exec.command ?? [] };
  if (p.httpGet) {
    const port = resolvePort(p.httpGet.port, c);
    if (typeof port === 'string') return { type: 'invalid', message: port };
    return {
      type: 'httpGet',
      host: p.httpGet.host || podIP,
      port,
      path: p.httpGet.path ?? '',
      scheme: p.httpGet.scheme ?? 'HTTP',
      headers: p.httpGet.httpHeaders ?? [],
    };
  }
  if (p.tcpSocket) {
    const port = resolvePort(p.tcpSocket.port, c);
    if (typeof port === 'string') return { type: 'invalid', message: port };
    return { type: 'tcpSocket', host: p.tcpSocket.host || podIP, port };
  }
  if (p.grpc) return { type: 'grpc', host: podIP, port: p.grpc.port, service: p.grpc.service ?? '' };
  return { type: 'invalid', message: 'missing probe handler' };
}

export function probeOf(c: Container, kind: ProbeKind): Probe | undefined {
  switch (kind) {
    case 'liveness':
      return c.livenessProbe;
    case 'readiness':
      return c.readinessProbe;
    case 'startup':
      return c.startupProbe;
  }
}

/** The probes of one container, ready to run against `podIP`. */
export function containerProbes(c: Container, podIP: string): ContainerProbe[] {
  const out: ContainerProbe[] = [];
  for (const kind of PROBE_KINDS) {
    const p = probeOf(c, kind);
    if (p) out.push({ kind, timing: probeTiming(p), handler: probeHandler(p, c, podIP) });
  }
  return out;
}
