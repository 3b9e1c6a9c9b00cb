// CRI over gRPC on a unix socket (containerd, CRI-O, or our own sim-runtime server).
//
// Reconnection is grpc-js's own channel logic; we only bound its backoff (100 ms doubling to
// 5 s, like the kubelet's runtime-down backoff) so that a restarted runtime is picked up within
// seconds rather than the library default of up to two minutes. Calls are not wait-for-ready:
// while the runtime is down they fail at once with Unavailable, and the caller decides.
import * as grpc from '@grpc/grpc-js';
import { serviceOf, type EventSubscription, type RpcName } from './api.js';
import type { CriTransport } from './client.js';
import { CriBadEndpointError } from './errors.js';
import { criEventMethod, criMethod, criService, type CriApiVersion } from './proto.js';

/** Upstream's gRPC message size limit for CRI (16 MiB), both ways. */
export const CRI_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * Turns a kubelet-style endpoint (`unix:///run/containerd/containerd.sock`, or a bare absolute
 * path as older configs have) into a grpc-js target. Anything but a unix socket is refused, as
 * the upstream kubelet does on Linux.
 */
export function criTarget(endpoint: string): string {
  const trimmed = endpoint.trim();
  if (trimmed.startsWith('/')) return `unix://${trimmed}`;
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(trimmed);
  if (!m) {
    throw new CriBadEndpointError(`CRI endpoint ${JSON.stringify(endpoint)} is not a URL; use unix:///path/to/socket`);
  }
  const scheme = (m[1] ?? '').toLowerCase();
  const rest = m[2] ?? '';
  if (scheme !== 'unix') {
    throw new CriBadEndpointError(`CRI endpoint ${JSON.stringify(endpoint)}: protocol ${JSON.stringify(scheme)} not supported; use unix:///path/to/socket`);
  }
  if (!rest.startsWith('/')) {
    throw new CriBadEndpointError(`CRI endpoint ${JSON.stringify(endpoint)}: the socket path must be absolute (unix:///path)`);
  }
  return `unix://${rest}`;
}

export interface GrpcCriTransportOptions {
  /** Image service endpoint when it differs from the runtime endpoint. */
  imageEndpoint?: string;
  apiVersion?: CriApiVersion;
}

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': CRI_MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': CRI_MAX_MESSAGE_BYTES,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 5000,
};

export class GrpcCriTransport implements CriTransport {
  readonly target: string;
  readonly apiVersion: CriApiVersion;
  private readonly runtime: grpc.Client;
  private readonly image: grpc.Client;

  constructor(endpoint: string, opts: GrpcCriTransportOptions = {}) {
    this.apiVersion = opts.apiVersion ?? 'v1';
    this.target = criTarget(endpoint);
    const imageTarget = opts.imageEndpoint ? criTarget(opts.imageEndpoint) : this.target;
    // Resolve the services now so a broken proto fails at construction, not at the first call.
    criService('RuntimeService', this.apiVersion);
    criService('ImageService', this.apiVersion);
    const creds = grpc.credentials.createInsecure();
    this.runtime = new grpc.Client(this.target, creds, CHANNEL_OPTIONS);
    this.image = imageTarget === this.target ? this.runtime : new grpc.Client(imageTarget, creds, CHANNEL_OPTIONS);
  }

  invoke(rpc: RpcName, request: unknown, deadline: number | undefined, signal: AbortSignal | undefined): Promise<unknown> {
    const method = criMethod(rpc, this.apiVersion);
    const client = serviceOf(rpc) === 'ImageService' ? this.image : this.runtime;
    return new Promise((resolve, reject) => {
      const callOpts: grpc.CallOptions = deadline === undefined ? {} : { deadline: new Date(deadline) };
      // Removed when the call ends, so a long-lived signal does not collect one listener per call.
      const onAbort = (): void => call.cancel();
      const call = client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request as object,
        new grpc.Metadata(),
        callOpts,
        (err, value) => {
          signal?.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve(value);
        },
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  streamEvents(handlers: { event(e: unknown): void; end(err: unknown): void }): EventSubscription {
    const method = criEventMethod(this.apiVersion);
    const call = this.runtime.makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, {}, new grpc.Metadata(), {});
    let done = false;
    const end = (err: unknown): void => {
      if (done) return;
      done = true;
      handlers.end(err);
    };
    call.on('data', (e: unknown) => handlers.event(e));
    call.on('error', (err: unknown) => end(err));
    // A server that ends the stream cleanly has still stopped sending events: the caller must know.
    call.on('end', () =>
      end(Object.assign(new Error('the runtime ended the event stream'), { code: grpc.status.UNAVAILABLE, details: 'the runtime ended the event stream' })),
    );
    return {
      cancel: () => {
        done = true;
        call.cancel();
      },
    };
  }

  close(): void {
    this.runtime.close();
    if (this.image !== this.runtime) this.image.close();
  }
}
