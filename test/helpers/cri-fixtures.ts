// Requests shaped the way a kubelet builds them (metadata, upstream labels, log layout), for
// the runtime behaviour suite, the wire test and the floor benchmark.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ALL_RPCS, type CriHandlers, type RequestOf } from '../../src/native/cri/api.js';

export type SandboxConfig = NonNullable<RequestOf<'RunPodSandbox'>['config']>;
export type ContainerConfig = NonNullable<RequestOf<'CreateContainer'>['config']>;

export interface PodRef {
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
}

export function newPod(prefix = 'pod', namespace = 'default'): PodRef {
  const uid = randomUUID();
  return { name: `${prefix}-${uid.slice(0, 8)}`, namespace, uid, attempt: 0 };
}

export function sandboxConfig(
  pod: PodRef,
  logRoot: string,
  extra: { labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): SandboxConfig {
  return {
    metadata: { name: pod.name, namespace: pod.namespace, uid: pod.uid, attempt: pod.attempt },
    hostname: pod.name,
    logDirectory: `${logRoot}/${pod.namespace}_${pod.name}_${pod.uid}`,
    dnsConfig: { servers: [], searches: [], options: [] },
    portMappings: [],
    labels: {
      'io.kubernetes.pod.name': pod.name,
      'io.kubernetes.pod.namespace': pod.namespace,
      'io.kubernetes.pod.uid': pod.uid,
      ...extra.labels,
    },
    annotations: {
      'kubernetes.io/config.source': 'test',
      ...extra.annotations,
    },
    linux: {
      cgroupParent: '',
      securityContext: {
        namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
      },
    },
  };
}

export function containerConfig(
  pod: PodRef,
  name: string,
  image: string,
  command: string[],
  opts: { attempt?: number; labels?: Record<string, string>; annotations?: Record<string, string> } = {},
): ContainerConfig {
  const attempt = opts.attempt ?? 0;
  return {
    metadata: { name, attempt },
    image: { image },
    command,
    args: [],
    workingDir: '',
    envs: [{ key: 'POD_NAME', value: pod.name }],
    mounts: [],
    labels: {
      'io.kubernetes.pod.name': pod.name,
      'io.kubernetes.pod.namespace': pod.namespace,
      'io.kubernetes.pod.uid': pod.uid,
      'io.kubernetes.container.name': name,
      ...opts.labels,
    },
    annotations: {
      'io.kubernetes.container.restartCount': String(attempt),
      'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
      ...opts.annotations,
    },
    logPath: `${name}/${attempt}.log`,
    linux: {
      resources: { cpuShares: 2, memoryLimitInBytes: 0, oomScoreAdj: 1000 },
      securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: last error ${last.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(everyMs);
  }
}

/** A runtime's RPCs without its event source: a runtime that cannot stream (as containerd 1.6). */
export function withoutEvents(runtime: CriHandlers): CriHandlers {
  const h: Record<string, unknown> = {};
  for (const rpc of ALL_RPCS) h[rpc] = (req: unknown) => (runtime[rpc] as (r: unknown) => Promise<unknown>).call(runtime, req);
  return h as CriHandlers;
}
