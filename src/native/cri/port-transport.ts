// CRI between threads of one process: the embedded runtime (the simulated runtime) lives in one
// thread and serves CRI on a MessagePort; pool threads and the PLEG thread call it through
// MessagePortCriTransport. No socket and no gRPC framing, but the same proto bytes cross the
// port as would cross a socket, so both sides see exactly what a gRPC peer would (defaults
// filled, unknown fields dropped) and no object is shared between threads.
//
// Wire (structured clone): request {kts: 'cri', id, rpc, bytes: Uint8Array}; reply
// {kts: 'cri', id, bytes} or {kts: 'cri', id, error: {code, details}}. Anything else arriving on
// the serving port is logged and dropped, or answered with INVALID_ARGUMENT when it carries an id.
// The event stream: {kts: 'cri-events', id, op: 'open' | 'cancel'} from the caller; then
// {kts: 'cri-event', id, bytes} per event and at most one {kts: 'cri-event-end', id, error}.
import type { MessagePort } from 'node:worker_threads';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ALL_RPCS, EVENTS_RPC, isEventSource, type CriHandlers, type EventSubscription, type RpcName } from './api.js';
import type { CriTransport } from './client.js';
import { grpcCodeOf, isCriError, REQUEST_SERIALIZATION_FAILURE } from './errors.js';
import { criEventMethod, criMethod, NO_EVENT_STREAM } from './proto.js';
import { silentLogger } from '../../log.js';

interface PortRequest {
  kts: 'cri';
  id: number;
  rpc: RpcName;
  bytes: Uint8Array;
}

type PortReply = { kts: 'cri'; id: number; bytes: Uint8Array } | { kts: 'cri'; id: number; error: { code: number; details: string } };

interface StreamControl {
  kts: 'cri-events';
  id: number;
  op: 'open' | 'cancel';
}

type StreamMessage = { kts: 'cri-event'; id: number; bytes: Uint8Array } | { kts: 'cri-event-end'; id: number; error: { code: number; details: string } };

function wireError(code: number, details: string): Error & { code: number; details: string } {
  return Object.assign(new Error(`${code} ${GrpcStatus[code] ?? ''}: ${details}`), { code, details });
}

const RPCS = new Set<string>(ALL_RPCS);

/** Serves CRI handlers on a port until `close()`; garbage never stops it. */
export function serveCriOnPort(handlers: CriHandlers, port: MessagePort, logger: Logger = silentLogger): { close(): void } {
  const log = logger.child({ component: 'cri-port-server' });
  const reply = (msg: PortReply): void => {
    if ('bytes' in msg) port.postMessage(msg, [msg.bytes.buffer as ArrayBuffer]);
    else port.postMessage(msg);
  };
  const streams = new Map<number, () => void>();
  const onStream = (m: Partial<StreamControl>): void => {
    const id = m.id;
    if (typeof id !== 'number') return;
    if (m.op === 'cancel') {
      streams.get(id)?.();
      streams.delete(id);
      return;
    }
    if (m.op !== 'open' || streams.has(id)) {
      log.warn({ id, op: m.op }, 'refused a malformed event-stream request');
      return;
    }
    if (!isEventSource(handlers)) {
      port.postMessage({ kts: 'cri-event-end', id, error: { code: GrpcStatus.UNIMPLEMENTED, details: NO_EVENT_STREAM } } satisfies StreamMessage);
      return;
    }
    const method = criEventMethod();
    streams.set(
      id,
      handlers.subscribeContainerEvents((e) => {
        const out = method.responseSerialize(e);
        const bytes = new Uint8Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength));
        port.postMessage({ kts: 'cri-event', id, bytes } satisfies StreamMessage, [bytes.buffer as ArrayBuffer]);
      }),
    );
  };
  const onMessage = (raw: unknown): void => {
    if (typeof raw === 'object' && raw !== null && (raw as { kts?: unknown }).kts === 'cri-events') {
      onStream(raw);
      return;
    }
    const m = raw as Partial<PortRequest> | null;
    if (typeof m !== 'object' || m === null || m.kts !== 'cri' || typeof m.id !== 'number') {
      log.warn({ got: typeof raw }, 'dropped a message that is not a CRI request');
      return;
    }
    const id = m.id;
    if (typeof m.rpc !== 'string' || !RPCS.has(m.rpc) || !(m.bytes instanceof Uint8Array)) {
      log.warn({ id, rpc: m.rpc }, 'refused a malformed CRI request');
      reply({ kts: 'cri', id, error: { code: GrpcStatus.INVALID_ARGUMENT, details: `malformed CRI request: rpc ${String(m.rpc)}` } });
      return;
    }
    const rpc = m.rpc;
    const method = criMethod(rpc);
    let request: object;
    try {
      request = method.requestDeserialize(Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength));
    } catch (err) {
      reply({
        kts: 'cri',
        id,
        error: { code: GrpcStatus.INTERNAL, details: `cannot decode ${rpc} request: ${err instanceof Error ? err.message : String(err)}` },
      });
      return;
    }
    const handler = handlers[rpc] as (req: object) => Promise<object>;
    handler.call(handlers, request).then(
      (res) => {
        const out = method.responseSerialize(res);
        reply({ kts: 'cri', id, bytes: new Uint8Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength)) });
      },
      (err: unknown) => {
        if (isCriError(err)) reply({ kts: 'cri', id, error: { code: grpcCodeOf(err), details: err.message } });
        else {
          const details = err instanceof Error ? err.message : String(err);
          log.error({ rpc, err: details }, 'CRI handler failed unexpectedly');
          reply({ kts: 'cri', id, error: { code: GrpcStatus.UNKNOWN, details } });
        }
      },
    );
  };
  port.on('message', onMessage);
  return {
    close: () => {
      for (const [, unsubscribe] of streams) unsubscribe();
      streams.clear();
      port.off('message', onMessage);
      port.close();
    },
  };
}

/** The calling side: a CriTransport over a MessagePort served by serveCriOnPort. */
export class MessagePortCriTransport implements CriTransport {
  readonly target: string;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; rpc: RpcName }>();
  private readonly streams = new Map<number, { event(e: unknown): void; end(err: unknown): void }>();
  private closed = false;

  constructor(
    private readonly port: MessagePort,
    name = 'embedded',
  ) {
    this.target = `port:${name}`;
    port.on('message', (raw: unknown) => this.onReply(raw));
    port.on('close', () => this.failAll('the embedded runtime closed its port'));
    // The pending map keeps the process alive only while calls are in flight.
    port.unref();
  }

  invoke(rpc: RpcName, request: unknown): Promise<unknown> {
    if (this.closed) return Promise.reject(wireError(GrpcStatus.UNAVAILABLE, 'the embedded runtime port is closed'));
    const method = criMethod(rpc);
    let bytes: Buffer;
    try {
      bytes = method.requestSerialize(request as object);
    } catch (err) {
      return Promise.reject(wireError(GrpcStatus.INTERNAL, `${REQUEST_SERIALIZATION_FAILURE}: ${err instanceof Error ? err.message : String(err)}`));
    }
    const id = this.nextId++;
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, rpc });
      if (this.pending.size === 1) this.port.ref();
      this.port.postMessage({ kts: 'cri', id, rpc, bytes: copy } satisfies PortRequest, [copy.buffer]);
    });
  }

  streamEvents(handlers: { event(e: unknown): void; end(err: unknown): void }): EventSubscription {
    const id = this.nextId++;
    if (this.closed) {
      queueMicrotask(() => handlers.end(wireError(GrpcStatus.UNAVAILABLE, 'the embedded runtime port is closed')));
      return { cancel: () => undefined };
    }
    // A stream does not keep the thread alive (the port stays unref'd for it).
    this.streams.set(id, handlers);
    this.port.postMessage({ kts: 'cri-events', id, op: 'open' } satisfies StreamControl);
    return {
      cancel: () => {
        if (!this.streams.delete(id) || this.closed) return;
        this.port.postMessage({ kts: 'cri-events', id, op: 'cancel' } satisfies StreamControl);
      },
    };
  }

  private onStreamMessage(m: Partial<StreamMessage>): void {
    const h = typeof m.id === 'number' ? this.streams.get(m.id) : undefined;
    if (!h || typeof m.id !== 'number') return;
    if (m.kts === 'cri-event-end') {
      this.streams.delete(m.id);
      const e = (m as { error?: { code: number; details: string } }).error;
      h.end(wireError(e?.code ?? GrpcStatus.UNKNOWN, e?.details ?? 'event stream ended'));
      return;
    }
    const bytes = (m as { bytes?: unknown }).bytes;
    if (!(bytes instanceof Uint8Array)) return;
    let decoded: unknown;
    try {
      decoded = criEventMethod().responseDeserialize(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (err) {
      this.streams.delete(m.id);
      h.end(wireError(GrpcStatus.INTERNAL, `cannot decode ${EVENTS_RPC} event: ${err instanceof Error ? err.message : String(err)}`));
      return;
    }
    h.event(decoded);
  }

  private onReply(raw: unknown): void {
    const kind = typeof raw === 'object' && raw !== null ? (raw as { kts?: unknown }).kts : undefined;
    if (kind === 'cri-event' || kind === 'cri-event-end') {
      this.onStreamMessage(raw as Partial<StreamMessage>);
      return;
    }
    const m = raw as Partial<PortReply> | null;
    if (typeof m !== 'object' || m === null || m.kts !== 'cri' || typeof m.id !== 'number') return;
    const p = this.pending.get(m.id);
    if (!p) return; // answered after the caller gave up (deadline): nothing waits for it
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.port.unref();
    if ('error' in m && m.error) {
      p.reject(wireError(m.error.code, m.error.details));
      return;
    }
    if (!('bytes' in m) || !(m.bytes instanceof Uint8Array)) {
      p.reject(wireError(GrpcStatus.INTERNAL, `malformed reply to ${p.rpc}`));
      return;
    }
    try {
      p.resolve(criMethod(p.rpc).responseDeserialize(Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength)));
    } catch (err) {
      p.reject(wireError(GrpcStatus.INTERNAL, `cannot decode ${p.rpc} reply: ${err instanceof Error ? err.message : String(err)}`));
    }
  }

  private failAll(why: string): void {
    this.closed = true;
    for (const [, p] of this.pending) p.reject(wireError(GrpcStatus.UNAVAILABLE, why));
    this.pending.clear();
    for (const [, h] of this.streams) h.end(wireError(GrpcStatus.UNAVAILABLE, why));
    this.streams.clear();
  }

  close(): void {
    this.failAll('transport closed');
    this.port.close();
  }
}
