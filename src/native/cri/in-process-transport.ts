// The embedded runtime path: CRI calls go straight to a handler object in this thread (the
// simulated runtime), without a socket. Requests and replies still go through the same proto
// serializers a socket would use, so the caller sees byte-for-byte what a gRPC client would
// (defaults filled, unknown fields dropped, int64s as numbers) and the handler cannot share
// mutable objects with its callers. Failures look as they would on the wire too: a handler's
// CriError becomes its gRPC status and text, anything else becomes UNKNOWN, and a request that
// cannot be encoded fails as grpc-js fails it (INTERNAL, "Request message serialization
// failure"), so the client reports the same typed error on both paths.
import { status as GrpcStatus } from '@grpc/grpc-js';
import { isEventSource, type CriHandlers, type EventSubscription, type RpcName } from './api.js';
import type { CriTransport } from './client.js';
import { grpcCodeOf, isCriError, REQUEST_SERIALIZATION_FAILURE } from './errors.js';
import { criEventMethod, criMethod, NO_EVENT_STREAM } from './proto.js';

/** What a gRPC client would have received: a status code and the server's text. */
export interface WireError extends Error {
  code: number;
  details: string;
}

function wireError(code: number, details: string): WireError {
  return Object.assign(new Error(`${code} ${GrpcStatus[code] ?? ''}: ${details}`), { code, details });
}

export class InProcessCriTransport implements CriTransport {
  readonly target: string;

  constructor(
    private readonly handlers: CriHandlers,
    name = 'sim',
  ) {
    this.target = `in-process:${name}`;
  }

  async invoke(rpc: RpcName, request: unknown): Promise<unknown> {
    const method = criMethod(rpc);
    let bytes: Buffer;
    try {
      bytes = method.requestSerialize(request as object);
    } catch (err) {
      throw wireError(GrpcStatus.INTERNAL, `${REQUEST_SERIALIZATION_FAILURE}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const decoded = method.requestDeserialize(bytes);
    const handler = this.handlers[rpc] as (req: object) => Promise<object>;
    let reply: object;
    try {
      reply = await handler.call(this.handlers, decoded);
    } catch (err) {
      if (isCriError(err)) throw wireError(grpcCodeOf(err), err.message);
      throw wireError(GrpcStatus.UNKNOWN, err instanceof Error ? err.message : String(err));
    }
    return method.responseDeserialize(method.responseSerialize(reply));
  }

  streamEvents(handlers: { event(e: unknown): void; end(err: unknown): void }): EventSubscription {
    const source = this.handlers;
    if (!isEventSource(source)) {
      queueMicrotask(() => handlers.end(wireError(GrpcStatus.UNIMPLEMENTED, NO_EVENT_STREAM)));
      return { cancel: () => undefined };
    }
    const method = criEventMethod();
    // The same bytes a socket would carry; delivered on a microtask, as a stream never calls back inside the change itself.
    const unsubscribe = source.subscribeContainerEvents((e) => {
      const decoded = method.responseDeserialize(method.responseSerialize(e));
      queueMicrotask(() => handlers.event(decoded));
    });
    return { cancel: unsubscribe };
  }

  close(): void {
    // Nothing to release: the handlers belong to whoever created them.
  }
}
