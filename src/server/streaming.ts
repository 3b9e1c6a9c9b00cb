// exec, attach and portForward on the kubelet API, as upstream's kubelet in its non-redirect
// mode: the kubelet parses the request (paths /exec|/attach/{ns}/{pod}[/{uid}]/{container} and
// /portForward/{ns}/{pod}[/{uid}]; query command, input|stdin, output|stdout, error|stderr, tty,
// port), finds the CRI container or sandbox, asks the runtime (CRI Exec / Attach / PortForward)
// for a one-time streaming URL, and then proxies the client's upgrade request to that URL and
// pipes both sockets until either side closes.
//
// The stream protocol (SPDY/3.1 or WebSocket with the channel.k8s.io subprotocols) is between
// the client and the runtime's streaming server: this module forwards the request line and the
// headers (Connection, Upgrade, X-Stream-Protocol-Version, Sec-WebSocket-*) and then bytes, it
// never parses a frame. So kubectl's SPDY and a browser's WebSocket work the same way.
//
// Owns: the proxied sockets while they are open (so the server can close them on shutdown).
// Assumes: the runtime's URL is trusted as much as the CRI socket it came from; its streaming
// server is on loopback (containerd's stream_server_address), and when it speaks TLS its
// certificate is self-signed (containerd's default TLS mode), so it is not verified.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { CriApi } from '../native/cri/api.js';

export type StreamKind = 'exec' | 'attach' | 'portForward';

/** What the kubelet asks the runtime for: CRI ExecRequest, AttachRequest, PortForwardRequest. */
export type StreamRequest =
  | { kind: 'exec'; containerId: string; cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }
  | { kind: 'attach'; containerId: string; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }
  | { kind: 'portForward'; podSandboxId: string; port: number[] };

/** A stream request that cannot be served, with the HTTP status to answer. */
export class StreamRequestError extends Error {
  readonly code = 'KTS_STREAM_REQUEST';

  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'StreamRequestError';
  }
}

/** The runtime's streaming server could not be reached. */
export class StreamProxyError extends Error {
  readonly code = 'KTS_STREAM_PROXY';

  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'StreamProxyError';
  }
}

export interface StreamTarget {
  kind: StreamKind;
  namespace: string;
  pod: string;
  uid: string | undefined;
  /** exec and attach only. */
  container: string | undefined;
}

const PREFIXES: Record<string, StreamKind> = { exec: 'exec', attach: 'attach', portForward: 'portForward' };

/** The stream kind of a path, or undefined for every other path. */
export function streamKindOf(path: string): StreamKind | undefined {
  const first = path.split('/')[1] ?? '';
  return Object.hasOwn(PREFIXES, first) ? PREFIXES[first] : undefined;
}

/** Splits a stream path into its parts; throws StreamRequestError (400) when malformed. */
export function parseStreamPath(path: string): StreamTarget {
  const kind = streamKindOf(path);
  if (!kind) throw new StreamRequestError(`not a streaming path: ${path}`, 404);
  let parts: string[];
  try {
    parts = path
      .split('/')
      .slice(2)
      .map((p) => decodeURIComponent(p));
  } catch {
    throw new StreamRequestError(`malformed path: ${path}`, 400);
  }
  if (kind === 'portForward') {
    const [namespace, pod, uid] = parts;
    if (!namespace || !pod || parts.length > 3 || parts.includes('')) throw new StreamRequestError('path must be /portForward/{namespace}/{pod}[/{uid}]', 400);
    return { kind, namespace, pod, uid: uid || undefined, container: undefined };
  }
  const [namespace, pod] = parts;
  const uid = parts.length === 4 ? parts[2] : undefined;
  const container = parts[parts.length - 1];
  if (!namespace || !pod || !container || parts.length < 3 || parts.length > 4 || parts.includes('')) {
    throw new StreamRequestError(`path must be /${kind}/{namespace}/{pod}[/{uid}]/{container}`, 400);
  }
  return { kind, namespace, pod, uid, container };
}

function flag(q: URLSearchParams, ...names: string[]): boolean {
  return names.some((n) => q.get(n) === '1' || q.get(n) === 'true');
}

/** Upstream's port list: every `port` value, each possibly comma-separated. */
export function parsePorts(q: URLSearchParams): number[] {
  const ports: number[] = [];
  for (const value of q.getAll('port')) {
    for (const s of value.split(',')) {
      const n = Number(s.trim());
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new StreamRequestError(`port "${s}" must be an integer between 1 and 65535`, 400);
      ports.push(n);
    }
  }
  return ports;
}

/**
 * The CRI request for a target, minus the runtime ID (filled in once resolved). Validates as
 * upstream: at least one of stdin, stdout, stderr; stderr is dropped with a tty; exec needs a
 * command.
 */
export function streamOptions(
  kind: StreamKind,
  q: URLSearchParams,
): { cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean } | { port: number[] } {
  if (kind === 'portForward') return { port: parsePorts(q) };
  const tty = flag(q, 'tty');
  const stdin = flag(q, 'input', 'stdin');
  const stdout = flag(q, 'output', 'stdout');
  const stderr = flag(q, 'error', 'stderr') && !tty;
  if (!stdin && !stdout && !stderr) throw new StreamRequestError('you must specify at least 1 of stdin, stdout, stderr', 400);
  const cmd = q.getAll('command');
  if (kind === 'exec' && cmd.length === 0) throw new StreamRequestError('exec needs a command (query parameter "command", repeated for each argument)', 400);
  return { cmd, tty, stdin, stdout, stderr };
}

/** Builds the CRI request once the container or sandbox ID is known. */
export function streamRequest(target: StreamTarget, q: URLSearchParams, runtimeId: string): StreamRequest {
  const o = streamOptions(target.kind, q);
  switch (target.kind) {
    case 'portForward':
      return { kind: 'portForward', podSandboxId: runtimeId, port: 'port' in o ? o.port : [] };
    case 'exec':
      if (!('cmd' in o)) throw new StreamRequestError('bad exec options', 400);
      return { kind: 'exec', containerId: runtimeId, ...o };
    case 'attach': {
      if (!('cmd' in o)) throw new StreamRequestError('bad attach options', 400);
      const { tty, stdin, stdout, stderr } = o;
      return { kind: 'attach', containerId: runtimeId, tty, stdin, stdout, stderr };
    }
    default: {
      const never: never = target.kind;
      throw new StreamRequestError(`unknown stream kind ${String(never)}`, 400);
    }
  }
}

/** The backend's `streamUrl` on a CRI client: asks the runtime for the streaming URL. */
export async function criStreamUrl(cri: Pick<CriApi, 'Exec' | 'Attach' | 'PortForward'>, r: StreamRequest): Promise<string> {
  switch (r.kind) {
    case 'exec':
      return (await cri.Exec({ containerId: r.containerId, cmd: r.cmd, tty: r.tty, stdin: r.stdin, stdout: r.stdout, stderr: r.stderr })).url;
    case 'attach':
      return (await cri.Attach({ containerId: r.containerId, tty: r.tty, stdin: r.stdin, stdout: r.stdout, stderr: r.stderr })).url;
    case 'portForward':
      return (await cri.PortForward({ podSandboxId: r.podSandboxId, port: r.port })).url;
    default: {
      const never: never = r;
      throw new StreamRequestError(`unknown stream kind ${(never as { kind: string }).kind}`, 400);
    }
  }
}

/** The HTTP status for a failed CRI call, as upstream's streaming.WriteError maps gRPC codes. */
export function statusForRuntimeError(err: unknown): number {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code === 'KTS_CRI_NOT_FOUND') return 404;
  if (code === 'KTS_CRI_RESOURCE_EXHAUSTED') return 429;
  return 500;
}

/** A complete HTTP/1.1 response written on a raw socket (the upgrade path has no ServerResponse). */
export function writeRawResponse(socket: Duplex, status: number, body: string): void {
  if (socket.destroyed) return;
  const text = body.endsWith('\n') ? body : `${body}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}

// Headers not passed to the runtime: Host is the runtime's own; the client's credentials were
// for the kubelet and the runtime needs none; X-Forwarded-For is rebuilt.
const DROPPED = new Set(['host', 'authorization', 'proxy-authorization', 'x-forwarded-for', 'content-length']);

/** The request head sent to the runtime: the client's method and headers, the runtime's path. */
export function upstreamRequestHead(req: IncomingMessage, target: URL): string {
  const lines = [`${req.method ?? 'GET'} ${target.pathname}${target.search} HTTP/1.1`, `Host: ${target.host}`];
  const raw = req.rawHeaders;
  let forwardedFor = '';
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const value = raw[i + 1] ?? '';
    const lower = name.toLowerCase();
    if (lower === 'x-forwarded-for') forwardedFor = forwardedFor ? `${forwardedFor}, ${value}` : value;
    if (DROPPED.has(lower)) continue;
    lines.push(`${name}: ${value}`);
  }
  const remote = req.socket.remoteAddress;
  if (remote) lines.push(`X-Forwarded-For: ${forwardedFor ? `${forwardedFor}, ${remote}` : remote}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export interface ProxyResult {
  bytesToRuntime: number;
  bytesToClient: number;
}

/**
 * Opens a connection to the runtime's streaming URL, sends the client's request there, then
 * pipes bytes both ways. Rejects with StreamProxyError when the runtime cannot be reached
 * (nothing has been written to the client yet: the caller answers it); resolves when both
 * sides are closed. `track` sees both sockets while they are open.
 */
export function proxyUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, url: string, log: Logger, track?: Set<Duplex>): Promise<ProxyResult> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.reject(new StreamProxyError(`the runtime answered an invalid streaming URL "${url}"`));
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:')
    return Promise.reject(new StreamProxyError(`the runtime's streaming URL is not http(s): ${url}`));
  // The client may have left while the kubelet was resolving the pod and asking the runtime.
  if (client.destroyed) return Promise.resolve({ bytesToRuntime: 0, bytesToClient: 0 });
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  return new Promise<ProxyResult>((resolve, reject) => {
    const backend: Socket =
      target.protocol === 'https:'
        ? tlsConnect({ host, port, ...(isIpLiteral(host) ? {} : { servername: host }), rejectUnauthorized: false })
        : netConnect({ host, port });
    const result: ProxyResult = { bytesToRuntime: 0, bytesToClient: 0 };
    let state: 'connecting' | 'piping' | 'done' = 'connecting';
    let open = 2;
    track?.add(backend);
    track?.add(client);
    const settle = (err?: StreamProxyError): void => {
      if (state === 'done') return;
      state = 'done';
      track?.delete(client);
      track?.delete(backend);
      if (err) reject(err);
      else resolve(result);
    };
    backend.once(target.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      if (state !== 'connecting') return;
      state = 'piping';
      backend.write(upstreamRequestHead(req, target));
      if (head.length > 0) {
        result.bytesToRuntime += head.length;
        backend.write(head);
      }
      backend.on('data', (d: Buffer) => (result.bytesToClient += d.length));
      client.on('data', (d: Buffer) => (result.bytesToRuntime += d.length));
      backend.pipe(client);
      client.pipe(backend);
    });
    backend.on('error', (err) => {
      if (state === 'connecting') {
        backend.destroy();
        settle(new StreamProxyError(`cannot reach the runtime's streaming server at ${target.host}: ${err.message}`, { cause: err }));
        return;
      }
      log.debug({ err: err.message }, 'stream: runtime side failed');
      client.destroy();
    });
    client.on('error', (err) => {
      log.debug({ err: err.message }, 'stream: client side failed');
      backend.destroy();
    });
    // When one side is gone the other is ended (its pending bytes still flushed), and destroyed
    // if it does not close by itself soon after.
    const closed = (other: Duplex): void => {
      if (state === 'connecting') {
        // The client left before the runtime answered the connect.
        backend.destroy();
        settle();
        return;
      }
      if (state === 'done') return;
      open--;
      if (open === 0) {
        settle();
        return;
      }
      if (!other.destroyed) {
        other.end();
        setTimeout(() => other.destroy(), 5_000).unref();
      }
    };
    backend.on('close', () => closed(client));
    client.on('close', () => closed(backend));
  });
}

function isIpLiteral(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
