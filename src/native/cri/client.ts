// The CRI client the actors use: typed methods over a transport (gRPC on a unix socket, or the
// in-process simulated runtime), with the policy every call shares living here once:
// deadlines (runtime request timeout, 2 min by default as upstream), cancellation, errors
// turned into typed CriErrors, and the upstream runtime metrics.
//
// Deadline policy, as the upstream remote runtime: every call gets the request timeout, except
// PullImage (no deadline: a big image may take long) and ExecSync (its own `timeout` seconds
// plus the request timeout; none when `timeout` is 0).
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import {
  ALL_RPCS,
  EVENTS_OPERATION,
  OPERATION,
  type CallOptions,
  type ContainerEvent,
  type CriApi,
  type EventStreamHandlers,
  type EventSubscription,
  type RequestOf,
  type ResponseOf,
  type RpcName,
} from './api.js';
import { CriCancelledError, CriDeadlineError, CriUnimplementedError, toCriError } from './errors.js';
import { criMetrics, type CriMetrics } from './metrics.js';
import { silentLogger } from '../../log.js';

export const DEFAULT_RUNTIME_REQUEST_TIMEOUT_MS = 2 * 60 * 1000;

/** Moves one request to a runtime and its answer back. Knows nothing of policy. */
export interface CriTransport {
  /** Human-readable target, e.g. `unix:///run/containerd/containerd.sock` or `in-process:sim`. */
  readonly target: string;
  /**
   * Runs one call. `deadline` is an absolute epoch-ms time or undefined for none; the transport
   * should pass it on to the runtime (gRPC deadline) where it can. It rejects with whatever the
   * runtime said; the client maps that to a CriError.
   */
  invoke(rpc: RpcName, request: unknown, deadline: number | undefined, signal: AbortSignal | undefined): Promise<unknown>;
  /**
   * Opens the GetContainerEvents stream (no deadline: it lives until cancelled or broken).
   * `event` gets decoded events; `end` is called once, with what the runtime said when the
   * stream failed, or nothing after cancel(). Absent: the transport cannot stream.
   */
  streamEvents?(handlers: { event(e: unknown): void; end(err: unknown): void }): EventSubscription;
  close(): void;
}

export interface CriClientOptions {
  runtimeRequestTimeoutMs?: number;
  /** Where the kubelet_runtime_operations_* metrics go; none recorded when absent. */
  registry?: Registry;
  /**
   * Called after every call (operation_type label, seconds, failed): how threads without the
   * process's registry report their calls (src/native/cri/call-metrics.ts forwards them).
   */
  onCall?: (operation: string, seconds: number, failed: boolean) => void;
  logger?: Logger;
}

export type CriClient = CriApi & {
  readonly target: string;
  readonly runtimeRequestTimeoutMs: number;
  /** Runs any RPC by name (what the typed methods call). */
  call<K extends RpcName>(rpc: K, req: RequestOf<K>, opts?: CallOptions): Promise<ResponseOf<K>>;
  /**
   * Follows the runtime's event stream. A runtime or transport without one ends the stream at
   * once (asynchronously) with CriUnimplementedError; other failures end it with their CriError.
   */
  GetContainerEvents(handlers: EventStreamHandlers): EventSubscription;
  close(): void;
};

function deadlineFor(rpc: RpcName, req: unknown, requestTimeoutMs: number, opts: CallOptions | undefined): number | undefined {
  let timeoutMs: number = requestTimeoutMs;
  if (opts?.timeoutMs !== undefined) {
    timeoutMs = opts.timeoutMs;
  } else if (rpc === 'PullImage') {
    timeoutMs = Infinity;
  } else if (rpc === 'ExecSync') {
    const seconds = Number((req as { timeout?: unknown }).timeout ?? 0);
    timeoutMs = seconds > 0 ? requestTimeoutMs + seconds * 1000 : Infinity;
  }
  return Number.isFinite(timeoutMs) ? Date.now() + Math.max(0, timeoutMs) : undefined;
}

/**
 * Races a transport call against its deadline and abort signal, so that no transport (even one
 * that hangs and ignores deadlines) can hold a caller past them.
 */
function bounded<T>(rpc: RpcName, work: Promise<T>, deadline: number | undefined, signal: AbortSignal | undefined): Promise<T> {
  if (deadline === undefined && signal === undefined) return work;
  const operation = OPERATION[rpc];
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      cleanup();
      reject(new CriCancelledError(`CRI ${operation} cancelled by the caller`, { operation }));
    };
    const cleanup = (): void => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (deadline !== undefined) {
      // A little slack so a transport that honours the deadline itself reports first (its
      // error carries the runtime's words); this timer is the backstop.
      const ms = Math.max(0, deadline - Date.now()) + 50;
      timer = setTimeout(() => {
        cleanup();
        reject(new CriDeadlineError(`CRI ${operation} did not answer within its deadline`, { operation }));
      }, ms);
    }
    // Settled whatever happens first: the transport's promise must always have a handler, or
    // its late rejection (a per-task client closed at the end of a cancelled pool task) is an
    // unhandled rejection, which takes the whole pool thread down with every task on it.
    work.then(
      (v) => {
        cleanup();
        resolve(v);
      },
      (e: unknown) => {
        cleanup();
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
    if (signal?.aborted) onAbort();
  });
}

export function createCriClient(transport: CriTransport, opts: CriClientOptions = {}): CriClient {
  const requestTimeoutMs = opts.runtimeRequestTimeoutMs ?? DEFAULT_RUNTIME_REQUEST_TIMEOUT_MS;
  const metrics: CriMetrics | undefined = opts.registry ? criMetrics(opts.registry) : undefined;
  const log = (opts.logger ?? silentLogger).child({ component: 'cri-client', target: transport.target });

  async function call<K extends RpcName>(rpc: K, req: RequestOf<K>, callOpts?: CallOptions): Promise<ResponseOf<K>> {
    const operation = OPERATION[rpc];
    const start = performance.now();
    const deadline = deadlineFor(rpc, req, requestTimeoutMs, callOpts);
    let failed = false;
    try {
      // A cancelled caller's next call never reaches the runtime (a cancelled sync creates nothing more).
      if (callOpts?.signal?.aborted) throw new CriCancelledError(`CRI ${operation} cancelled by the caller`, { operation });
      const res = await bounded(rpc, transport.invoke(rpc, req, deadline, callOpts?.signal), deadline, callOpts?.signal);
      return res as ResponseOf<K>;
    } catch (err) {
      const criErr = toCriError(err, operation);
      failed = true;
      metrics?.errors.inc({ operation_type: operation });
      log.debug({ operation, code: criErr.code, err: criErr.message }, 'CRI call failed');
      throw criErr;
    } finally {
      const seconds = (performance.now() - start) / 1000;
      metrics?.operations.inc({ operation_type: operation });
      metrics?.duration.observe({ operation_type: operation }, seconds);
      opts.onCall?.(operation, seconds, failed);
    }
  }

  function GetContainerEvents(handlers: EventStreamHandlers): EventSubscription {
    const operation = EVENTS_OPERATION;
    metrics?.operations.inc({ operation_type: operation });
    let ended = false;
    const end = (err: unknown): void => {
      if (ended) return;
      ended = true;
      if (err === undefined) {
        handlers.end(undefined);
        return;
      }
      const criErr = toCriError(err, operation);
      metrics?.errors.inc({ operation_type: operation });
      opts.onCall?.(operation, 0, true);
      log.debug({ operation, code: criErr.code, err: criErr.message }, 'CRI event stream ended');
      handlers.end(criErr);
    };
    if (!transport.streamEvents) {
      queueMicrotask(() => end(new CriUnimplementedError(`CRI ${operation}: ${transport.target} cannot stream events`, { operation })));
      return { cancel: () => end(undefined) };
    }
    const sub = transport.streamEvents({
      event: (e) => {
        if (!ended) handlers.event(e as ContainerEvent);
      },
      end,
    });
    return {
      cancel: () => {
        if (ended) return;
        sub.cancel();
        end(undefined);
      },
    };
  }

  const client: Record<string, unknown> = {
    target: transport.target,
    runtimeRequestTimeoutMs: requestTimeoutMs,
    call,
    GetContainerEvents,
    close: () => transport.close(),
  };
  for (const rpc of ALL_RPCS) {
    client[rpc] = (req: RequestOf<typeof rpc>, callOpts?: CallOptions) => call(rpc, req, callOpts);
  }
  return client as CriClient;
}
