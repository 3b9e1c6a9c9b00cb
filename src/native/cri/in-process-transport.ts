// The embedded runtime path: CRI calls go straight to a handler object in this thread (the
// simulated runtime), without a socket. Requests and replies still go through the same proto
// serializers a socket would use, so the caller sees byte-for-byte what a gRPC client would
// (defaults filled, unknown fields dropped, int64s as numbers) and the handler cannot share
// mutable objects with its callers.
import type { CriHandlers, RpcName } from './api.js';
import type { CriTransport } from './client.js';
import { criMethod } from './proto.js';

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
    const decoded = method.requestDeserialize(method.requestSerialize(request as object));
    const handler = this.handlers[rpc] as (req: object) => Promise<object>;
    const reply = await handler.call(this.handlers, decoded);
    return method.responseDeserialize(method.responseSerialize(reply));
  }

  close(): void {
    // Nothing to release: the handlers belong to whoever created them.
  }
}
