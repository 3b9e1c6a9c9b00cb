// Serves a CRI handler object (the simulated runtime) over gRPC on a unix socket, under
// `runtime.v1` and, by default, `runtime.v1alpha2` too, so that any CRI client can use it,
// including Go kubelets that only speak v1alpha2. A thrown CriError becomes its gRPC status with
// the message as details; anything else becomes Unknown, and the server keeps serving.
import { rmSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { RUNTIME_RPCS, IMAGE_RPCS, OPERATION, EVENTS_RPC, isEventSource, type CriHandlers, type RpcName } from './api.js';
import { grpcCodeOf, isCriError } from './errors.js';
import { criService, type CriApiVersion } from './proto.js';
import { criTarget, CRI_MAX_MESSAGE_BYTES } from './grpc-transport.js';
import { silentLogger } from '../../log.js';

export interface CriServerOptions {
  /** `unix:///path/to.sock` (or an absolute path). A stale socket file is replaced. */
  listen: string;
  apiVersions?: readonly CriApiVersion[];
  logger?: Logger;
}

export interface CriServer {
  readonly endpoint: string;
  readonly socketPath: string;
  close(): Promise<void>;
}

function implementation(handlers: CriHandlers, rpcs: readonly RpcName[], version: CriApiVersion, log: Logger): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const rpc of rpcs) {
    const handler = handlers[rpc] as (req: object) => Promise<object>;
    impl[rpc] = ((call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => {
      handler.call(handlers, call.request).then(
        (reply) => {
          // One handler serves both API packages; Version must name the one the caller used,
          // as containerd does (runtime_api_version "v1alpha2" on the v1alpha2 service).
          if (rpc === 'Version' && version !== 'v1') callback(null, { ...reply, runtimeApiVersion: version });
          else callback(null, reply);
        },
        (err: unknown) => {
          if (isCriError(err)) {
            callback({ code: grpcCodeOf(err), details: err.message });
          } else {
            const message = err instanceof Error ? err.message : String(err);
            log.error({ operation: OPERATION[rpc], err: message }, 'CRI handler failed unexpectedly');
            callback({ code: grpc.status.UNKNOWN, details: message });
          }
        },
      );
    }) as grpc.handleUnaryCall<object, object>;
  }
  return impl;
}

export async function serveCri(handlers: CriHandlers, opts: CriServerOptions): Promise<CriServer> {
  const target = criTarget(opts.listen);
  const socketPath = target.slice('unix://'.length);
  const log = (opts.logger ?? silentLogger).child({ component: 'cri-server', endpoint: target });
  mkdirSync(dirname(socketPath), { recursive: true });
  if (existsSync(socketPath)) rmSync(socketPath);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': CRI_MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': CRI_MAX_MESSAGE_BYTES,
  });
  // Open event streams, ended when the server closes (a client then sees the stream end and retries).
  const streams = new Set<grpc.ServerWritableStream<object, object>>();
  for (const version of opts.apiVersions ?? (['v1', 'v1alpha2'] as const)) {
    const runtimeImpl = implementation(handlers, RUNTIME_RPCS, version, log);
    // Without an event source the method stays unregistered and grpc-js answers Unimplemented, as containerd 1.6 does.
    if (isEventSource(handlers)) {
      runtimeImpl[EVENTS_RPC] = ((call: grpc.ServerWritableStream<object, object>) => {
        streams.add(call);
        const unsubscribe = handlers.subscribeContainerEvents((e) => {
          call.write(e);
        });
        const done = (): void => {
          unsubscribe();
          streams.delete(call);
        };
        call.on('cancelled', done);
        call.on('error', done);
        call.on('finish', done);
      }) as grpc.handleServerStreamingCall<object, object>;
    }
    server.addService(criService('RuntimeService', version), runtimeImpl);
    server.addService(criService('ImageService', version), implementation(handlers, IMAGE_RPCS, version, log));
  }
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });
  log.info({ apiVersions: opts.apiVersions ?? ['v1', 'v1alpha2'] }, 'CRI server listening');
  return {
    endpoint: target,
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        for (const call of streams) call.end();
        streams.clear();
        server.tryShutdown(() => {
          if (existsSync(socketPath)) rmSync(socketPath, { force: true });
          resolve();
        });
        // Calls in flight (a hung handler under fault injection) must not hold shutdown forever.
        setTimeout(() => server.forceShutdown(), 2000).unref();
      }),
  };
}
