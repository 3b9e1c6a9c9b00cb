// The two ways to run the simulated runtime: in-process (a CRI client over the in-process
// transport: no socket, same serializers) and stand-alone behind a unix socket (serveCri, both
// runtime.v1 and runtime.v1alpha2, so a Go kubelet or crictl can use it too).
import type { Logger } from 'pino';
import { createCriClient, type CriClient, type CriClientOptions } from '../native/cri/client.js';
import { InProcessCriTransport } from '../native/cri/in-process-transport.js';
import { serveCri } from '../native/cri/server.js';
import type { CriApiVersion } from '../native/cri/proto.js';
import { SimRuntime, type SimRuntimeOptions } from './runtime.js';

/** A CRI client wired straight to `sim`. */
export function createSimClient(sim: SimRuntime, opts: CriClientOptions = {}): CriClient {
  return createCriClient(new InProcessCriTransport(sim, 'sim'), opts);
}

export interface SimRuntimeServerOptions {
  /** `unix:///path/to.sock`; a stale socket file is replaced. */
  listen: string;
  /** Options for a new runtime, or a runtime to serve (then `close()` leaves it open). */
  runtime?: SimRuntimeOptions | SimRuntime;
  apiVersions?: readonly CriApiVersion[];
  logger?: Logger;
}

export interface SimRuntimeServer {
  readonly endpoint: string;
  readonly socketPath: string;
  readonly runtime: SimRuntime;
  /** Stops serving, removes the socket, and closes the runtime if this server created it. */
  close(): Promise<void>;
}

export async function startSimRuntimeServer(opts: SimRuntimeServerOptions): Promise<SimRuntimeServer> {
  const owned = !(opts.runtime instanceof SimRuntime);
  const runtime = opts.runtime instanceof SimRuntime ? opts.runtime : new SimRuntime({ ...opts.runtime, ...(opts.logger ? { logger: opts.logger } : {}) });
  try {
    const server = await serveCri(runtime, {
      listen: opts.listen,
      ...(opts.apiVersions ? { apiVersions: opts.apiVersions } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    return {
      endpoint: server.endpoint,
      socketPath: server.socketPath,
      runtime,
      close: async () => {
        // Close the runtime first: hung calls (fault injection) get answered, so the gRPC
        // server can shut down gracefully instead of waiting for them.
        if (owned) await runtime.close();
        await server.close();
      },
    };
  } catch (err) {
    if (owned) await runtime.close();
    throw err;
  }
}
