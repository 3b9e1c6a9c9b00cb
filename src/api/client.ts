// The kubelet's API server client. Credentials come from the kubeconfig through
// @kubernetes/client-node's KubeConfig (contexts, inline or file CA and client certificates,
// bearer tokens and token files, exec plugins); the requests themselves go through our own small
// layer on node:https, because the kubelet needs what the library's generated client lacks: a
// priority rate limiter in front of every request (src/api/rate-limiter.ts), keep-alive
// connections sized for bursts of status writes, typed errors with a stable code, and watch
// streams that report their resourceVersion so the caller can resume.
//
// Every request is plain JSON; `patch` takes the patch type (merge, strategic, json).
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { PriorityRateLimiter, type Priority } from './rate-limiter.js';

export type { Priority };

export type PatchType = 'merge' | 'strategic' | 'json';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

export type ApiErrorCode =
  | 'KTS_API_NOT_FOUND'
  | 'KTS_API_CONFLICT'
  | 'KTS_API_ALREADY_EXISTS'
  | 'KTS_API_GONE'
  | 'KTS_API_FORBIDDEN'
  | 'KTS_API_UNAUTHORIZED'
  | 'KTS_API_INVALID'
  | 'KTS_API_TOO_MANY_REQUESTS'
  | 'KTS_API_SERVER_ERROR'
  | 'KTS_API_UNAVAILABLE'
  | 'KTS_API_TIMEOUT'
  | 'KTS_API_BAD_RESPONSE'
  | 'KTS_API_CONFIG';

/** A failed API request: HTTP status (0 when none came back), the Status reason, a stable code. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;
  readonly reason: string;

  constructor(code: ApiErrorCode, message: string, status = 0, reason = '', opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.reason = reason;
  }
}

function codeFor(status: number, reason: string): ApiErrorCode {
  if (status === 404) return 'KTS_API_NOT_FOUND';
  if (status === 409) return reason === 'AlreadyExists' ? 'KTS_API_ALREADY_EXISTS' : 'KTS_API_CONFLICT';
  if (status === 410) return 'KTS_API_GONE';
  if (status === 403) return 'KTS_API_FORBIDDEN';
  if (status === 401) return 'KTS_API_UNAUTHORIZED';
  if (status === 422 || status === 400) return 'KTS_API_INVALID';
  if (status === 429) return 'KTS_API_TOO_MANY_REQUESTS';
  if (status === 504) return 'KTS_API_TIMEOUT';
  return 'KTS_API_SERVER_ERROR';
}

/** True for failures worth retrying later (the server is down, slow or shedding load). */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof ApiError)) return false;
  return ['KTS_API_UNAVAILABLE', 'KTS_API_TIMEOUT', 'KTS_API_TOO_MANY_REQUESTS', 'KTS_API_SERVER_ERROR'].includes(err.code);
}

export interface ApiConnection {
  /** https://host:port of the API server. */
  server: string;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Extra headers, e.g. Authorization: Bearer ... */
  headers?: Record<string, string>;
  insecureSkipTLSVerify?: boolean;
  /**
   * Fresh auth headers (bearer tokens from token files and exec plugins expire): called every
   * minute and once after a 401, whose request is then retried once.
   */
  refreshHeaders?: () => Promise<Record<string, string>>;
}

export interface RequestInfo {
  method: string;
  /** The path with names replaced, for low-cardinality metrics (upstream's `url` label is the path template). */
  resource: string;
  status: number;
  seconds: number;
  priority: Priority;
}

export interface ApiClientOptions {
  qps: number;
  burst: number;
  userAgent?: string;
  /** Per-request timeout (not watches). */
  timeoutMs?: number;
  /** Called after every finished request (metrics). */
  onRequest?: (info: RequestInfo) => void;
}

export interface ApiRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  priority?: Priority;
  timeoutMs?: number;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface WatchHandle {
  /** Ends the watch; `done` then resolves. */
  stop(): void;
  /** Resolves when the stream ends: closed by the server (timeout), stopped, or failed. */
  done: Promise<{ reason: 'closed' | 'stopped' } | { reason: 'error'; error: ApiError }>;
}

function queryString(q: ApiRequest['query']): string {
  if (!q) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) if (v !== undefined) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}

/** `/api/v1/namespaces/default/pods/web-1/status` -> `/api/v1/namespaces/{namespace}/pods/{name}/status`. */
export function resourceTemplate(path: string): string {
  const segs = path.split('?')[0]?.split('/') ?? [];
  const out: string[] = [];
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i] ?? '';
    const prev = segs[i - 1];
    if (prev === 'namespaces' && i > 0) out.push('{namespace}');
    else if (
      i >= 2 &&
      prev !== undefined &&
      /^(pods|nodes|leases|events|secrets|configmaps|serviceaccounts|services|persistentvolumeclaims)$/.test(prev) &&
      s !== ''
    )
      out.push('{name}');
    else out.push(s);
  }
  return out.join('/');
}

async function readBody(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function statusError(status: number, text: string, what: string): ApiError {
  let reason = '';
  let message = text.trim().slice(0, 500);
  try {
    const s = JSON.parse(text) as { kind?: string; reason?: string; message?: string };
    if (s.kind === 'Status') {
      reason = s.reason ?? '';
      message = s.message ?? message;
    }
  } catch {
    // not JSON: keep the text
  }
  return new ApiError(codeFor(status, reason), `${what}: ${status}${reason ? ` ${reason}` : ''}: ${message}`, status, reason);
}

export class ApiClient {
  readonly server: URL;
  /** Path prefix of the server URL (proxies serve the API below one), '' for none. */
  private readonly prefix: string;
  private readonly agent: Agent | HttpAgent;
  /** Heartbeats (Lease, node status) have sockets of their own: never queued behind bulk writes. */
  private readonly heartbeatAgent: Agent | HttpAgent;
  private readonly limiter: PriorityRateLimiter;
  private baseHeaders: Record<string, string>;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly tls: Pick<RequestOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'>;
  private closed = false;
  private readonly watches = new Set<WatchHandle>();

  constructor(
    readonly connection: ApiConnection,
    private readonly opts: ApiClientOptions,
  ) {
    this.server = new URL(connection.server);
    this.tls = {
      ...(connection.ca ? { ca: connection.ca } : {}),
      ...(connection.cert ? { cert: connection.cert } : {}),
      ...(connection.key ? { key: connection.key } : {}),
      rejectUnauthorized: !connection.insecureSkipTLSVerify,
    };
    // Enough sockets for a burst of writes at the configured rate; watches hold one each.
    const maxSockets = Math.max(8, Math.min(64, Math.ceil(opts.burst / 4)));
    const agent = (n: number): Agent | HttpAgent =>
      this.server.protocol === 'http:' ? new HttpAgent({ keepAlive: true, maxSockets: n }) : new Agent({ keepAlive: true, maxSockets: n, ...this.tls });
    this.agent = agent(maxSockets);
    this.heartbeatAgent = agent(2);
    this.prefix = this.server.pathname.replace(/\/+$/, '');
    this.limiter = new PriorityRateLimiter(opts.qps, opts.burst);
    this.baseHeaders = { accept: 'application/json', 'user-agent': opts.userAgent ?? 'kubelet-ts', ...(connection.headers ?? {}) };
    if (connection.refreshHeaders) {
      this.refreshTimer = setInterval(() => void this.refreshAuth(), 60_000);
      this.refreshTimer.unref();
    }
  }

  private url(path: string, query?: ApiRequest['query']): URL {
    return new URL(this.prefix + path + queryString(query), this.server.origin);
  }

  /** Re-reads the auth headers (token file, exec plugin); false when nothing to refresh or it failed. */
  async refreshAuth(): Promise<boolean> {
    if (!this.connection.refreshHeaders) return false;
    try {
      const h = await this.connection.refreshHeaders();
      this.baseHeaders = { ...this.baseHeaders, ...h };
      return true;
    } catch {
      return false;
    }
  }

  /** Builds a client from a kubeconfig file (the current context). */
  static async fromKubeconfig(path: string, opts: ApiClientOptions): Promise<ApiClient> {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    try {
      kc.loadFromFile(path);
    } catch (err) {
      throw new ApiError('KTS_API_CONFIG', `kubeconfig ${path}: ${(err as Error).message}`, 0, '', { cause: err });
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new ApiError('KTS_API_CONFIG', `kubeconfig ${path}: no current context or its cluster is missing`);
    const o: RequestOptions = {};
    try {
      await kc.applyToHTTPSOptions(o);
    } catch (err) {
      throw new ApiError('KTS_API_CONFIG', `kubeconfig ${path}: ${(err as Error).message}`, 0, '', { cause: err });
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.headers ?? {})) if (typeof v === 'string') headers[k.toLowerCase()] = v;
    return new ApiClient(
      {
        server: cluster.server,
        ...(o.ca ? { ca: o.ca as string | Buffer } : {}),
        ...(o.cert ? { cert: o.cert as string | Buffer } : {}),
        ...(o.key ? { key: o.key as string | Buffer } : {}),
        headers,
        insecureSkipTLSVerify: cluster.skipTLSVerify,
        ...(headers['authorization']
          ? {
              refreshHeaders: async () => {
                const fresh: RequestOptions = {};
                await kc.applyToHTTPSOptions(fresh);
                const out: Record<string, string> = {};
                for (const [k, v] of Object.entries(fresh.headers ?? {})) if (typeof v === 'string') out[k.toLowerCase()] = v;
                return out;
              },
            }
          : {}),
      },
      opts,
    );
  }

  /** Requests waiting for the rate limiter. */
  waiting(priority?: Priority): number {
    return this.limiter.waiting(priority);
  }

  get limiterStats(): ReadonlyMap<Priority, { count: number; seconds: number }> {
    return this.limiter.waited;
  }

  async request<T>(req: ApiRequest): Promise<T> {
    const priority = req.priority ?? 'normal';
    await this.limiter.acquire(priority);
    const started = performance.now();
    let status = 0;
    try {
      let { status: s, text } = await this.send(req);
      if (s === 401 && (await this.refreshAuth())) ({ status: s, text } = await this.send(req));
      status = s;
      if (s < 200 || s > 299) throw statusError(s, text, `${req.method} ${req.path}`);
      if (text === '') return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        throw new ApiError('KTS_API_BAD_RESPONSE', `${req.method} ${req.path}: the answer is not JSON`, s, '', { cause: err });
      }
    } finally {
      this.opts.onRequest?.({ method: req.method, resource: resourceTemplate(req.path), status, seconds: (performance.now() - started) / 1000, priority });
    }
  }

  get<T>(path: string, query?: ApiRequest['query'], priority: Priority = 'normal'): Promise<T> {
    return this.request<T>({ method: 'GET', path, ...(query ? { query } : {}), priority });
  }

  post<T>(path: string, body: unknown, priority: Priority = 'normal', query?: ApiRequest['query']): Promise<T> {
    return this.request<T>({ method: 'POST', path, body, priority, ...(query ? { query } : {}) });
  }

  put<T>(path: string, body: unknown, priority: Priority = 'normal'): Promise<T> {
    return this.request<T>({ method: 'PUT', path, body, priority });
  }

  patch<T>(path: string, body: unknown, type: PatchType, priority: Priority = 'normal'): Promise<T> {
    return this.request<T>({ method: 'PATCH', path, body, contentType: PATCH_CONTENT_TYPES[type], priority });
  }

  delete<T>(path: string, body?: unknown, priority: Priority = 'normal'): Promise<T> {
    return this.request<T>({ method: 'DELETE', path, ...(body === undefined ? {} : { body }), priority });
  }

  /**
   * Watches a collection (`watch=1` is added). Events arrive in order through `onEvent`; an
   * ERROR event (e.g. 410 Gone for a too-old resourceVersion) ends the watch with that error.
   */
  watch<T>(path: string, query: ApiRequest['query'], onEvent: (ev: WatchEvent<T>) => void, opts: { deadlineMs?: number } = {}): WatchHandle {
    let stopFn: () => void = () => undefined;
    let stopped = false;
    let expired = false;
    const done = (async (): Promise<Awaited<WatchHandle['done']>> => {
      try {
        await this.limiter.acquire('normal');
      } catch (err) {
        return { reason: 'error', error: err instanceof ApiError ? err : new ApiError('KTS_API_UNAVAILABLE', (err as Error).message) };
      }
      if (stopped) return { reason: 'stopped' };
      return await new Promise((resolve) => {
        const url = this.url(path, { ...query, watch: 1 });
        const doRequest = url.protocol === 'http:' ? httpRequest : httpsRequest;
        // A half-open connection (the server's host died) would hold a watch for many minutes:
        // past its deadline it ends as if the server had closed it, and the caller resumes.
        const deadline = opts.deadlineMs
          ? setTimeout(() => {
              expired = true;
              req.destroy();
            }, opts.deadlineMs)
          : undefined;
        deadline?.unref();
        const finish = (r: Awaited<WatchHandle['done']>): void => {
          if (deadline) clearTimeout(deadline);
          resolve(expired && r.reason === 'error' && r.error.code === 'KTS_API_UNAVAILABLE' ? { reason: 'closed' } : r);
        };
        const req = doRequest(url, { method: 'GET', agent: this.agent, headers: this.baseHeaders, ...this.tls }, (res) => {
          if ((res.statusCode ?? 0) !== 200) {
            void readBody(res).then(
              (text) => finish({ reason: 'error', error: statusError(res.statusCode ?? 0, text, `watch ${path}`) }),
              (err: unknown) => finish({ reason: 'error', error: new ApiError('KTS_API_UNAVAILABLE', `watch ${path}: ${(err as Error).message}`) }),
            );
            return;
          }
          let buf = '';
          let failed: ApiError | undefined;
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let nl = buf.indexOf('\n');
            while (nl >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              nl = buf.indexOf('\n');
              if (line === '' || failed) continue;
              let ev: WatchEvent<T>;
              try {
                ev = JSON.parse(line) as WatchEvent<T>;
              } catch {
                failed = new ApiError('KTS_API_BAD_RESPONSE', `watch ${path}: a line that is not JSON`);
                req.destroy();
                continue;
              }
              if (ev.type === 'ERROR') {
                const st = ev.object as unknown as { code?: number; reason?: string; message?: string };
                failed = new ApiError(
                  codeFor(st.code ?? 500, st.reason ?? ''),
                  `watch ${path}: ${st.code ?? ''} ${st.reason ?? ''}: ${st.message ?? ''}`,
                  st.code ?? 500,
                  st.reason ?? '',
                );
                req.destroy();
                continue;
              }
              onEvent(ev);
            }
          });
          res.on('end', () => finish(failed ? { reason: 'error', error: failed } : { reason: stopped ? 'stopped' : 'closed' }));
          res.on('error', () =>
            finish(
              failed
                ? { reason: 'error', error: failed }
                : stopped
                  ? { reason: 'stopped' }
                  : expired
                    ? { reason: 'closed' }
                    : { reason: 'error', error: new ApiError('KTS_API_UNAVAILABLE', `watch ${path}: the stream broke`) },
            ),
          );
          res.on('close', () => finish(failed ? { reason: 'error', error: failed } : { reason: stopped ? 'stopped' : 'closed' }));
        });
        req.on('error', (err) =>
          finish(
            stopped
              ? { reason: 'stopped' }
              : { reason: 'error', error: new ApiError('KTS_API_UNAVAILABLE', `watch ${path}: ${err.message}`, 0, '', { cause: err }) },
          ),
        );
        req.end();
        stopFn = () => req.destroy();
        if (stopped) req.destroy();
      });
    })();
    const handle: WatchHandle = {
      stop: () => {
        stopped = true;
        stopFn();
      },
      done,
    };
    this.watches.add(handle);
    void done.finally(() => this.watches.delete(handle));
    return handle;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.limiter.close();
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    for (const w of this.watches) w.stop();
    this.agent.destroy();
    this.heartbeatAgent.destroy();
  }

  private send(req: ApiRequest): Promise<{ status: number; text: string }> {
    const url = this.url(req.path, req.query);
    const body = req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    const headers: Record<string, string> = { ...this.baseHeaders };
    if (body !== undefined) {
      headers['content-type'] = req.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const timeoutMs = req.timeoutMs ?? this.opts.timeoutMs ?? 30_000;
    const doRequest = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const agent = req.priority === 'heartbeat' ? this.heartbeatAgent : this.agent;
      // One deadline from the start (a request queued for a socket or stuck connecting counts).
      const timer = setTimeout(() => r.destroy(new ApiError('KTS_API_TIMEOUT', `${req.method} ${req.path}: no answer within ${timeoutMs} ms`)), timeoutMs);
      timer.unref();
      const r = doRequest(url, { method: req.method, agent, headers, ...this.tls }, (res) => {
        readBody(res).then(
          (text) => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, text });
          },
          (err: unknown) => {
            clearTimeout(timer);
            reject(
              err instanceof ApiError
                ? err
                : new ApiError('KTS_API_UNAVAILABLE', `${req.method} ${req.path}: ${(err as Error).message}`, 0, '', { cause: err }),
            );
          },
        );
      });
      r.on('error', (err) => {
        clearTimeout(timer);
        reject(err instanceof ApiError ? err : new ApiError('KTS_API_UNAVAILABLE', `${req.method} ${req.path}: ${err.message}`, 0, '', { cause: err }));
      });
      if (body !== undefined) r.write(body);
      r.end();
    });
  }
}
