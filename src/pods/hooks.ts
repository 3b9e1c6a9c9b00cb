// Container lifecycle hooks (postStart, preStop), run on a pool thread where the sync and kill
// tasks hold the CRI client: exec through CRI ExecSync, httpGet against the pod IP (or the
// handler's host) with the probes' HTTP client (src/probes/http-get.ts). A failed hook is an answer, not an exception: the caller gets upstream's
// event message (FailedPostStartHook / FailedPreStopHook events carry it verbatim) and decides
// what follows: a failed postStart kills the container, a failed preStop lets the kill go on.
//
// Assumes the hook may outlive its caller's patience: preStop is raced against the grace period
// by the kill path (upstream lets it run on in the background too), postStart has no deadline of
// its own (upstream runs it with timeout 0) but stops with the sync's cancel signal.
import type { Container, HTTPGetAction, LifecycleHandler, Pod } from '../api/core-v1.js';
import type { CriClient } from '../native/cri/client.js';
import { httpGetAction } from '../probes/http-get.js';
import { packageVersion } from '../version.js';

/** postStart has no deadline of its own; the HTTP client needs one: the longest a timer takes. */
const NO_DEADLINE_MS = 2 ** 31 - 1;

/** Upstream's hook requests say kube-lifecycle/<major.minor> where probes say kube-probe. */
function lifecycleUserAgent(): string {
  const [major = '0', minor = '0'] = packageVersion().replace(/^v/, '').split('.');
  return `kube-lifecycle/${major}.${minor}`;
}

export interface HookTarget {
  cri: CriClient;
  pod: Pod;
  /** The container spec (or what a kill restored from its annotations). */
  container: Container;
  containerId: string;
  /** The pod IP, looked up only when an httpGet hook has no host. */
  podIP: () => Promise<string | undefined>;
  signal?: AbortSignal;
}

/** Upstream's format.Pod: name_namespace(uid). */
export function podRef(pod: Pod): string {
  return `${pod.metadata.name ?? ''}_${pod.metadata.namespace ?? 'default'}(${pod.metadata.uid ?? ''})`;
}

/** Go's %q for the strings hooks print (JSON escaping matches it for the text hooks produce). */
function quote(s: string): string {
  return JSON.stringify(s);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The port of an httpGet handler: a number, or a container port's name. */
export function resolveHookPort(action: HTTPGetAction, container: Container): number | undefined {
  if (typeof action.port === 'number') return action.port;
  const asNumber = Number(action.port);
  if (action.port !== '' && Number.isInteger(asNumber)) return asNumber;
  return container.ports?.find((p) => p.name === action.port)?.containerPort;
}

/**
 * Runs one hook handler; resolves to undefined when it succeeded, else to the event message
 * upstream records (`Exec lifecycle hook ([cmd]) for Container "c" in Pod "p_ns(uid)" failed - ...`).
 */
export async function runHook(handler: LifecycleHandler, t: HookTarget): Promise<string | undefined> {
  const who = `for Container ${quote(t.container.name)} in Pod ${quote(podRef(t.pod))}`;
  if (handler.exec) {
    const cmd = handler.exec.command ?? [];
    try {
      // timeout 0: no deadline of its own (upstream), only the caller's signal.
      const r = await t.cri.ExecSync({ containerId: t.containerId, cmd, timeout: 0 }, t.signal ? { signal: t.signal } : {});
      if (r.exitCode === 0) return undefined;
      const stdout = Buffer.from(r.stdout).toString('utf8');
      const stderr = Buffer.from(r.stderr).toString('utf8');
      return `Exec lifecycle hook ([${cmd.join(' ')}]) ${who} failed - error: command '${cmd.join(' ')}' exited with ${r.exitCode}: ${stderr}, message: ${quote(stdout + stderr)}`;
    } catch (err) {
      return `Exec lifecycle hook ([${cmd.join(' ')}]) ${who} failed - error: ${message(err)}, message: ""`;
    }
  }
  if (handler.httpGet) {
    const action = handler.httpGet;
    const path = action.path ?? '';
    const fail = (err: string): string => `HTTP lifecycle hook (${path}) ${who} failed - error: ${err}, message: ""`;
    const port = resolveHookPort(action, t.container);
    if (port === undefined) return fail(`couldn't find port: ${String(action.port)} in ${t.container.name}`);
    const host = action.host || (await t.podIP().catch(() => undefined));
    if (!host) return fail('no host: the pod has no IP');
    const r = await httpGetAction({ host, port, path, scheme: action.scheme ?? 'HTTP', headers: action.httpHeaders ?? [] }, NO_DEADLINE_MS, {
      userAgent: lifecycleUserAgent(),
    });
    // Upstream's hook fails on a transport error only: any HTTP answer means the hook ran.
    return r.statusCode !== undefined ? undefined : fail(r.message);
  }
  if (handler.tcpSocket) {
    // Upstream accepts tcpSocket in the API but never runs it for hooks (deprecated, no-op).
    return undefined;
  }
  return `Cannot run handler: invalid handler: ${JSON.stringify(handler)}`;
}

/** Runs `work` but gives up waiting after `ms` (the work goes on; its answer is dropped). */
export async function withinMs<T>(work: Promise<T>, ms: number): Promise<{ done: true; value: T } | { done: false }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ done: false }>((resolve) => {
    timer = setTimeout(() => resolve({ done: false }), Math.max(0, ms));
  });
  try {
    return await Promise.race([work.then((value) => ({ done: true as const, value })), timeout]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
