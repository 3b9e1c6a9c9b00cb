// The CRI layer's public surface: what actors and commands import.
import { createCriClient, type CriClient, type CriClientOptions } from './client.js';
import { GrpcCriTransport, type GrpcCriTransportOptions } from './grpc-transport.js';

export * from './api.js';
export * from './errors.js';
export { createCriClient, DEFAULT_RUNTIME_REQUEST_TIMEOUT_MS, type CriClient, type CriClientOptions, type CriTransport } from './client.js';
export { GrpcCriTransport, criTarget } from './grpc-transport.js';
export { InProcessCriTransport } from './in-process-transport.js';
export { serveCri, type CriServer, type CriServerOptions } from './server.js';
export { criMetrics } from './metrics.js';
export type { CriApiVersion } from './proto.js';

/** A CRI client for a runtime on a unix socket: `connectCri('unix:///run/containerd/containerd.sock')`. */
export function connectCri(endpoint: string, opts: CriClientOptions & GrpcCriTransportOptions = {}): CriClient {
  const transportOpts: GrpcCriTransportOptions = {};
  if (opts.imageEndpoint !== undefined) transportOpts.imageEndpoint = opts.imageEndpoint;
  if (opts.apiVersion !== undefined) transportOpts.apiVersion = opts.apiVersion;
  return createCriClient(new GrpcCriTransport(endpoint, transportOpts), opts);
}
