// The kubelet's HTTP surface, secured as upstream:
//  - HTTPS (default :10250): every request is authenticated (x509 client certificate chained to
//    authentication.x509.clientCAFile; bearer tokens through an injected token authenticator,
//    i.e. TokenReview in API server mode; system:anonymous only when anonymous auth is enabled)
//    and then authorized on the upstream attributes: resource "nodes", name = the node, verb
//    from the method, subresource from the path (stats, metrics, log, spec, else proxy).
//    401 when nobody is recognised (or the token could not be reviewed), 403 naming user, verb
//    and subresource when refused, 500 ("Authorization error") when the authorizer fails: never
//    allowed by failure. The API server webhooks are webhook-auth.ts and webhook-authz.ts,
//    chosen from the config by auth-config.ts.
//  - plain HTTP on 127.0.0.1 (default :10248): /healthz only, as upstream.
// Hostile input: every listener takes requests through one guard (`guarded`): the request
// target is parsed before anything else (origin-form only; a target that does not parse, or a
// path segment whose percent-encoding is broken, is a 400 with a log line), and whatever a
// handler throws ends as a 4xx/5xx answer and a log line, never as an exception out of the
// server. Client errors the HTTP parser finds (bad request lines, oversized headers, timeouts)
// are answered and counted by 'clientError'. Each listener bounds its connections and the time
// a client may take for the TLS handshake and the request head (SERVER_LIMITS), so a flood of
// idle or slow connections costs bounded memory. x509 client authentication is on only with an
// explicit client CA, as upstream: without one no client certificate is even asked for.
// Routes: /pods, /runningpods/, /metrics, /metrics/probes, /metrics/resource, /stats/summary, /configz, /healthz, /containerLogs/{ns}/{pod}/{container},
// /static-pods (POST a manifest, DELETE /static-pods/{ns}/{name}, GET the submitted ones), and
// the streaming ones, /exec, /attach, /portForward (streaming.ts): upgrade requests, taken from
// the server's 'upgrade' event, authenticated and authorized exactly as the others (subresource
// proxy), then proxied to the runtime's streaming server.
import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Pod } from '../api/core-v1.js';
import { silentLogger } from '../log.js';
import { MANIFEST_LIMITS } from '../sources/manifest-limits.js';
import { resourceMetricsText, type Summary } from '../stats/summary.js';

/** The Prometheus text exposition format, as upstream serves /metrics/resource. */
const TEXT_FORMAT = 'text/plain; version=0.0.4; charset=utf-8';
import { streamContainerLog } from './container-logs.js';
import { BadRequestError, decodeSegment, parseTarget } from './request-target.js';

export { BadRequestError, decodeSegment, parseTarget };
import {
  parseStreamPath,
  proxyUpgrade,
  statusForRuntimeError,
  streamKindOf,
  streamOptions,
  streamRequest,
  StreamProxyError,
  StreamRequestError,
  writeRawResponse,
  type StreamRequest,
} from './streaming.js';

export interface UserInfo {
  name: string;
  groups: string[];
  /** How the user was recognised: x509, token, anonymous. */
  via: 'x509' | 'token' | 'anonymous';
  /** From a TokenReview: the user's UID and extra attributes, passed on to SubjectAccessReview. */
  uid?: string;
  extra?: Record<string, string[]>;
}

export interface RequestAttributes {
  user: UserInfo;
  verb: string;
  resource: 'nodes';
  name: string;
  subresource: string;
  path: string;
}

export interface Authorizer {
  /** For the start-up log line: AlwaysAllow, Webhook. */
  readonly name?: string;
  authorize(attrs: RequestAttributes): Promise<{ allowed: boolean; reason?: string }>;
}

export const alwaysAllow: Authorizer = { name: 'AlwaysAllow', authorize: () => Promise.resolve({ allowed: true }) };

export interface TokenAuthenticator {
  authenticate(token: string): Promise<UserInfo | undefined>;
}

export interface HealthCheck {
  name: string;
  check(): { ok: boolean; message?: string };
}

export interface KubeletBackend {
  nodeName: string;
  pods(): Pod[];
  runningPods(): Promise<Pod[]>;
  registry: Registry;
  /** /metrics/probes: the prober_* metrics text (the probe thread keeps its own registry). */
  probeMetrics?: () => Promise<string>;
  /** /stats/summary and /metrics/resource: the last stats summary (undefined: not available now). */
  statsSummary?: (onlyCpuAndMemory: boolean) => Promise<{ summary: Summary; error?: string } | undefined>;
  configz(): unknown;
  /** The CRI log file of a container (the previous instance with `previous`), or why none. */
  containerLog(
    namespace: string,
    pod: string,
    container: string,
    previous: boolean,
  ): Promise<{ path: string; running: () => Promise<boolean> } | { error: string; status: number }>;
  healthChecks: HealthCheck[];
  /** POST/DELETE/GET /static-pods: the endpoint for submitting static pods. */
  submit?: {
    add(text: string): { accepted: { name: string; namespace: string; uid: string }[]; errors: string[] };
    remove(namespace: string, name: string): boolean;
    list(): Pod[];
  };
  /**
   * exec and attach: the CRI container ID of a container of a pod on this node (when `uid` is
   * given, the pod must have it), or why none (e.g. 404 no such pod, 400 not running).
   * Without it (or without streamUrl) /exec and /attach answer 501.
   */
  resolveContainer?(namespace: string, pod: string, uid: string | undefined, container: string): Promise<{ id: string } | { error: string; status: number }>;
  /** portForward: the CRI sandbox ID of a pod on this node, or why none. */
  resolveSandbox?(namespace: string, pod: string, uid: string | undefined): Promise<{ id: string } | { error: string; status: number }>;
  /**
   * Asks the runtime (CRI Exec, Attach, PortForward) for the streaming URL of a request;
   * `criStreamUrl(cri, request)` from streaming.ts does it on a CRI client. CRI errors are
   * answered by their code (NotFound 404, else 500).
   */
  streamUrl?(request: StreamRequest): Promise<string>;
}

/** The listeners' bounds; see the header comment. Exported for the tests and the bench. */
export const SERVER_LIMITS = {
  /** Open connections per listener (streams included); more are closed at accept. */
  maxConnections: 1024,
  /** A TLS handshake not done by then is dropped (Node's default is 120 s). */
  handshakeTimeoutMs: 10_000,
  /** The request head (line and headers) must arrive within this (Node's default is 60 s). */
  headersTimeoutMs: 15_000,
  /** The whole request, body included (a POSTed manifest), must arrive within this. Answers may stream for longer. */
  requestTimeoutMs: 60_000,
  /** An idle kept-alive connection is closed after this. */
  keepAliveTimeoutMs: 5_000,
  /** Request head size (Node's 16 KiB default; bigger heads get 431). */
  maxHeaderBytes: 16 * 1024,
  /** How often Node checks the header and request timeouts (its default, 30 s, lets a slow client hold on 30 s longer). */
  timeoutCheckMs: 2_000,
} as const;

export interface KubeletServerOptions {
  backend: KubeletBackend;
  address: string;
  port: number;
  tls: { cert: string; key: string; clientCA?: string };
  anonymous: boolean;
  authorizer: Authorizer;
  tokens?: TokenAuthenticator;
  healthz?: { address: string; port: number };
  logger?: Logger;
  /** Overrides of SERVER_LIMITS (tests). */
  limits?: Partial<Record<keyof typeof SERVER_LIMITS, number>>;
}

export interface KubeletServer {
  port: number;
  healthzPort: number | undefined;
  close(): Promise<void>;
}

const VERBS: Record<string, string> = { GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/** Upstream's subresource for a kubelet path. */
export function subresourceOf(path: string): string {
  if (path === '/stats' || path.startsWith('/stats/')) return 'stats';
  if (path === '/metrics' || path.startsWith('/metrics/')) return 'metrics';
  if (path === '/logs' || path.startsWith('/logs/')) return 'log';
  if (path === '/spec' || path.startsWith('/spec/')) return 'spec';
  if (path === '/checkpoint' || path.startsWith('/checkpoint/')) return 'checkpoint';
  return 'proxy';
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, `${JSON.stringify(value)}\n`, 'application/json');
}

function userFromCert(req: IncomingMessage, clientCA: string | undefined): UserInfo | undefined {
  // Upstream has no x509 authenticator without a client CA: a certificate that chains to Node's
  // default trust store (or NODE_EXTRA_CA_CERTS) must not name a user.
  if (!clientCA) return undefined;
  const socket = req.socket as TLSSocket;
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  const subject = cert.subject as unknown as Record<string, string | string[] | undefined> | undefined;
  const cn = subject?.['CN'];
  const o = subject?.['O'];
  const name = Array.isArray(cn) ? cn[0] : cn;
  if (!name) return undefined;
  return { name, groups: [...(Array.isArray(o) ? o : o ? [o] : []), 'system:authenticated'], via: 'x509' };
}

function intParam(q: URLSearchParams, name: string): number | undefined | Error {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) return new Error(`${name} must be a non-negative integer, got "${v}"`);
  return n;
}

async function containerLogs(backend: KubeletBackend, parts: string[], q: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const [ns, pod, container] = parts.map(decodeSegment);
  if (!ns || !pod || !container || parts.length !== 3) {
    send(res, 400, 'path must be /containerLogs/{namespace}/{pod}/{container}\n');
    return;
  }
  const tail = intParam(q, 'tailLines');
  const limit = intParam(q, 'limitBytes');
  const since = intParam(q, 'sinceSeconds');
  for (const v of [tail, limit, since]) {
    if (v instanceof Error) {
      send(res, 400, `${v.message}\n`);
      return;
    }
  }
  const sinceTime = q.get('sinceTime');
  if (sinceTime && Number.isNaN(Date.parse(sinceTime))) {
    send(res, 400, `sinceTime must be RFC 3339, got "${sinceTime}"\n`);
    return;
  }
  const bool = (n: string): boolean => q.get(n) === 'true' || q.get(n) === '1';
  const found = await backend.containerLog(ns, pod, container, bool('previous'));
  if ('error' in found) {
    send(res, found.status, `${found.error}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'transfer-encoding': 'chunked' });
  const ac = new AbortController();
  req.on('close', () => ac.abort());
  const sinceMs = since !== undefined ? Date.now() - (since as number) * 1000 : sinceTime ? Date.parse(sinceTime) : undefined;
  await streamContainerLog(
    found.path,
    {
      timestamps: bool('timestamps'),
      follow: bool('follow'),
      ...(tail !== undefined ? { tailLines: tail as number } : {}),
      ...(limit !== undefined ? { limitBytes: limit as number } : {}),
      ...(sinceMs !== undefined ? { sinceMs } : {}),
    },
    (text) => res.write(text),
    ac.signal,
    async () => !(await found.running()),
  ).catch((err: unknown) => {
    res.write(`\nkubelet-ts: log stream ended: ${err instanceof Error ? err.message : String(err)}\n`);
  });
  res.end();
}

function healthz(backend: KubeletBackend, path: string, res: ServerResponse): void {
  const results = backend.healthChecks.map((c) => ({ name: c.name, ...c.check() }));
  const sub = path.replace(/^\/healthz\/?/, '');
  if (sub) {
    const one = sub === 'ping' ? { name: 'ping', ok: true } : results.find((r) => r.name === sub);
    if (!one) return send(res, 404, `no health check "${sub}"\n`);
    return send(res, one.ok ? 200 : 500, one.ok ? 'ok' : `[-]${one.name} failed: ${'message' in one ? (one.message ?? '') : ''}\n`);
  }
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) return send(res, 200, 'ok');
  const lines = ['[+]ping ok', ...results.map((r) => (r.ok ? `[+]${r.name} ok` : `[-]${r.name} failed: ${r.message ?? 'unhealthy'}`)), 'healthz check failed'];
  return send(res, 500, `${lines.join('\n')}\n`);
}

// The same cap as the manifest folder and URL sources (manifest-limits.ts).
const MAX_MANIFEST_BYTES = MANIFEST_LIMITS.maxBytes;

async function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function staticPods(backend: KubeletBackend, req: IncomingMessage, res: ServerResponse, rest: string[]): Promise<void> {
  const submit = backend.submit;
  if (!submit) return send(res, 404, 'submitting static pods is not enabled on this kubelet\n');
  if (req.method === 'GET' && rest.length === 0) return sendJson(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: submit.list() });
  if (req.method === 'POST' && rest.length === 0) {
    const body = await readBody(req, MAX_MANIFEST_BYTES);
    if (body === undefined) return send(res, 413, `manifest larger than ${MAX_MANIFEST_BYTES} bytes\n`);
    const r = submit.add(body);
    if (r.errors.length > 0)
      return sendJson(res, 400, {
        kind: 'Status',
        status: 'Failure',
        reason: 'Invalid',
        message: r.errors.join('; '),
        details: { causes: r.errors.map((message) => ({ message })) },
      });
    return sendJson(res, 201, { accepted: r.accepted });
  }
  if (req.method === 'DELETE' && rest.length === 2) {
    const [ns, name] = rest.map(decodeSegment);
    return submit.remove(ns ?? '', name ?? '')
      ? sendJson(res, 200, { kind: 'Status', status: 'Success' })
      : send(res, 404, `no submitted static pod ${ns ?? ''}/${name ?? ''}\n`);
  }
  return send(res, 405, 'use GET or POST /static-pods, DELETE /static-pods/{namespace}/{name}\n');
}

async function route(backend: KubeletBackend, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const path = url.pathname;
  if (path === '/static-pods' || path.startsWith('/static-pods/')) {
    await staticPods(
      backend,
      req,
      res,
      path
        .split('/')
        .slice(2)
        .filter((x) => x !== ''),
    );
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, `method ${req.method ?? ''} not allowed on ${path}\n`);
    return;
  }
  if (path === '/pods' || path === '/pods/') {
    sendJson(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: backend.pods() });
  } else if (path === '/runningpods' || path === '/runningpods/') {
    sendJson(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: await backend.runningPods() });
  } else if (path === '/metrics') {
    send(res, 200, await backend.registry.metrics(), backend.registry.contentType);
  } else if (path === '/metrics/probes' && backend.probeMetrics) {
    send(res, 200, await backend.probeMetrics(), backend.registry.contentType);
  } else if ((path === '/stats/summary' || path === '/stats/summary/') && backend.statsSummary) {
    const only = url.searchParams.get('only_cpu_and_memory') === 'true';
    const r = await backend.statsSummary(only);
    if (!r) send(res, 503, 'stats are not available now: the eviction thread that samples them is restarting\n');
    else sendJson(res, 200, r.summary);
  } else if (path === '/metrics/resource' && backend.statsSummary) {
    const r = await backend.statsSummary(true);
    send(
      res,
      200,
      resourceMetricsText(r?.summary ?? { node: { nodeName: backend.nodeName, startTime: '' }, pods: [] }, !r || r.error !== undefined),
      TEXT_FORMAT,
    );
  } else if (path === '/configz') {
    sendJson(res, 200, { kubeletconfig: backend.configz() });
  } else if (path === '/healthz' || path.startsWith('/healthz/')) {
    healthz(backend, path, res);
  } else if (path.startsWith('/containerLogs/')) {
    await containerLogs(backend, path.slice('/containerLogs/'.length).split('/'), url.searchParams, req, res);
  } else {
    send(res, 404, `404 page not found: ${path}\n`);
  }
}

type Access = { ok: true; attrs: RequestAttributes } | { ok: false; status: number; body: string };

/** Authentication then authorization of one request, with upstream's answers when refused. */
async function checkAccess(opts: KubeletServerOptions, log: Logger, req: IncomingMessage, url: URL): Promise<Access> {
  let user = userFromCert(req, opts.tls.clientCA);
  const auth = req.headers.authorization;
  if (!user && auth?.startsWith('Bearer ') && opts.tokens) {
    try {
      user = await opts.tokens.authenticate(auth.slice(7).trim());
    } catch (err) {
      // As upstream: a token that could not be reviewed is not a recognised user.
      log.warn({ path: url.pathname, err: err instanceof Error ? err.message : String(err) }, 'request refused: token authentication failed');
      return { ok: false, status: 401, body: 'Unauthorized\n' };
    }
  }
  if (!user && opts.anonymous) user = { name: 'system:anonymous', groups: ['system:unauthenticated'], via: 'anonymous' };
  if (!user) {
    log.info({ path: url.pathname, remote: req.socket.remoteAddress }, 'request refused: not authenticated');
    return { ok: false, status: 401, body: 'Unauthorized\n' };
  }
  const attrs: RequestAttributes = {
    user,
    verb: VERBS[req.method ?? 'GET'] ?? 'get',
    resource: 'nodes',
    name: opts.backend.nodeName,
    subresource: subresourceOf(url.pathname),
    path: url.pathname,
  };
  const who = `user=${user.name}, verb=${attrs.verb}, resource=${attrs.resource}, subresource(s)=[${attrs.subresource}]`;
  let decision: { allowed: boolean; reason?: string };
  try {
    decision = await opts.authorizer.authorize(attrs);
  } catch (err) {
    log.error(
      { path: url.pathname, user: user.name, verb: attrs.verb, subresource: attrs.subresource, err: err instanceof Error ? err.message : String(err) },
      'authorization error',
    );
    return { ok: false, status: 500, body: `Authorization error (${who})\n` };
  }
  if (!decision.allowed) {
    log.info({ path: url.pathname, user: user.name, reason: decision.reason }, 'request refused: not authorized');
    return { ok: false, status: 403, body: `Forbidden (${who})\n` };
  }
  return { ok: true, attrs };
}

/** An upgrade request to /exec, /attach or /portForward, once allowed: resolve, ask the runtime, proxy. */
async function serveStream(
  opts: KubeletServerOptions,
  log: Logger,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  url: URL,
  streams: Set<Duplex>,
): Promise<void> {
  const b = opts.backend;
  const target = parseStreamPath(url.pathname);
  const q = url.searchParams;
  streamOptions(target.kind, q);
  const canResolve = target.kind === 'portForward' ? b.resolveSandbox !== undefined : b.resolveContainer !== undefined;
  if (!b.streamUrl || !canResolve) {
    writeRawResponse(socket, 501, `${target.kind} is not supported by this kubelet's runtime`);
    return;
  }
  const found =
    target.kind === 'portForward'
      ? await b.resolveSandbox?.(target.namespace, target.pod, target.uid)
      : await b.resolveContainer?.(target.namespace, target.pod, target.uid, target.container ?? '');
  if (!found || 'error' in found) {
    writeRawResponse(socket, found?.status ?? 500, found?.error ?? 'not found');
    return;
  }
  const request = streamRequest(target, q, found.id);
  let streamUrl: string;
  try {
    streamUrl = await b.streamUrl(request);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log.warn({ kind: target.kind, pod: `${target.namespace}/${target.pod}`, err: message }, 'stream: the runtime refused');
    writeRawResponse(socket, statusForRuntimeError(err), message);
    return;
  }
  const fields = { kind: target.kind, pod: `${target.namespace}/${target.pod}`, container: target.container, upgrade: req.headers.upgrade };
  log.info(fields, 'stream opened');
  const started = Date.now();
  try {
    const r = await proxyUpgrade(req, socket, head, streamUrl, log, streams);
    log.info({ ...fields, ...r, seconds: (Date.now() - started) / 1000 }, 'stream closed');
  } catch (err) {
    if (!(err instanceof StreamProxyError)) throw err;
    log.warn({ ...fields, err: err.message }, 'stream: proxy failed');
    writeRawResponse(socket, 500, `Error while proxying request: ${err.message}`);
  }
}

/** Counts refusals per listener and reason, and logs them without letting a flood flood the log. */
function refusals(registry: Registry, log: Logger): (listener: string, reason: string, fields: Record<string, unknown>, msg: string) => void {
  const name = 'kubelet_ts_http_requests_refused_total';
  const counter =
    (registry.getSingleMetric(name) as Counter | undefined) ??
    new Counter({
      name,
      help: 'Requests and connections the kubelet listeners refused before any handler: malformed targets, client errors of the HTTP parser, TLS errors, timeouts.',
      labelNames: ['listener', 'reason'],
      registers: [registry],
    });
  let windowStart = 0;
  let inWindow = 0;
  let suppressed = 0;
  return (listener, reason, fields, msg) => {
    counter.inc({ listener, reason });
    const now = Date.now();
    if (now - windowStart > 10_000) {
      if (suppressed > 0)
        log.info({ suppressed }, 'more refused requests were not logged in the last 10 s (kubelet_ts_http_requests_refused_total counts them all)');
      windowStart = now;
      inWindow = 0;
      suppressed = 0;
    }
    if (++inWindow <= 20) log.info({ listener, reason, ...fields }, msg);
    else suppressed++;
  };
}

/** The status a failure in a handler is answered with, and what the client is told. */
function failureAnswer(err: unknown): { status: number; text: string } {
  if (err instanceof BadRequestError || err instanceof StreamRequestError) return { status: err.status, text: err.message };
  return { status: 500, text: 'internal error' };
}

export async function startKubeletServer(opts: KubeletServerOptions): Promise<KubeletServer> {
  const log = (opts.logger ?? silentLogger).child({ component: 'kubelet-server' });
  const limits = { ...SERVER_LIMITS, ...opts.limits };
  const refuse = refusals(opts.backend.registry, log);
  const remoteOf = (req: IncomingMessage): string | undefined => req.socket.remoteAddress;

  /**
   * The one guard every request handler runs behind: a synchronous throw, a rejection, or an
   * error while answering the error all end as an answer (or a destroyed socket) and a log
   * line, never as an exception out of the server.
   */
  const guarded =
    (listener: string, serve: (req: IncomingMessage, res: ServerResponse) => Promise<void>) =>
    (req: IncomingMessage, res: ServerResponse): void => {
      let running: Promise<void>;
      try {
        running = serve(req, res);
      } catch (err) {
        running = Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      running.catch((err: unknown) => {
        const { status, text } = failureAnswer(err);
        const fields = {
          path: (req.url ?? '').slice(0, 200),
          method: req.method,
          remote: remoteOf(req),
          status,
          err: err instanceof Error ? err.message : String(err),
        };
        if (status >= 500) log.error(fields, 'kubelet server request failed');
        else refuse(listener, 'bad-request', fields, 'request refused: malformed');
        try {
          if (!res.headersSent) send(res, status, `${text}\n`);
          else res.end();
        } catch {
          res.destroy();
        }
      });
    };

  const serveMain = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = parseTarget(req.url);
    const access = await checkAccess(opts, log, req, url);
    if (!access.ok) {
      send(res, access.status, access.body);
      return;
    }
    if (streamKindOf(url.pathname)) {
      // Upstream's upgrade-aware proxy: a stream path only makes sense as an upgrade.
      send(res, 400, `Upgrade request required: ${url.pathname.split('/')[1] ?? ''} streams over SPDY/3.1 or WebSocket (Connection: Upgrade)\n`);
      return;
    }
    await route(opts.backend, req, res, url);
  };
  const streams = new Set<Duplex>();
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Node's server stops watching an upgraded socket: errors are ours from here on.
    socket.on('error', (err) => log.debug({ err: err.message }, 'upgrade socket error'));
    // Hold what the client sends early until the proxy pipes it (pipe resumes the socket).
    socket.pause();
    const serve = async (): Promise<void> => {
      const url = parseTarget(req.url);
      const access = await checkAccess(opts, log, req, url);
      if (!access.ok) {
        writeRawResponse(socket, access.status, access.body);
        return;
      }
      if (!streamKindOf(url.pathname)) {
        writeRawResponse(socket, 400, `upgrade is served only on /exec, /attach and /portForward, not on ${url.pathname}`);
        return;
      }
      await serveStream(opts, log, req, socket, head, url, streams);
    };
    let running: Promise<void>;
    try {
      running = serve();
    } catch (err) {
      running = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    running.catch((err: unknown) => {
      const { status, text } = failureAnswer(err);
      const fields = { path: (req.url ?? '').slice(0, 200), remote: remoteOf(req), status, err: err instanceof Error ? err.message : String(err) };
      if (status >= 500) log.error(fields, 'kubelet server upgrade request failed');
      else refuse('main', 'bad-request', fields, 'upgrade request refused');
      try {
        writeRawResponse(socket, status, text);
      } catch {
        socket.destroy();
      }
    });
  };

  /** Errors the HTTP parser or the socket raise before a request exists: answered, counted, never thrown. */
  const onClientError =
    (listener: string) =>
    (err: NodeJS.ErrnoException, socket: Duplex): void => {
      const code = err.code ?? 'unknown';
      const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ERR_HTTP_HEADERS_TIMEOUT' ? 408 : 400;
      const reason = status === 431 ? 'headers-too-large' : status === 408 ? 'timeout' : code === 'ECONNRESET' ? 'reset' : 'malformed';
      if (reason !== 'reset') refuse(listener, reason, { code, err: err.message }, 'request refused by the HTTP parser');
      if (code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 0\r\n\r\n`,
      );
    };
  /** CONNECT asks for a tunnel; a kubelet is no proxy. Without a listener Node would drop the socket silently. */
  const onConnect =
    (listener: string) =>
    (req: IncomingMessage, socket: Duplex): void => {
      refuse(listener, 'connect', { target: (req.url ?? '').slice(0, 200), remote: req.socket.remoteAddress }, 'request refused: CONNECT is not served');
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    };
  const bound = (server: HttpServer | HttpsServer, listener: string): void => {
    server.on('connect', onConnect(listener));
    server.maxConnections = limits.maxConnections;
    server.headersTimeout = limits.headersTimeoutMs;
    server.requestTimeout = limits.requestTimeoutMs;
    server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  };

  const clientCA = opts.tls.clientCA;
  const https: HttpsServer = createHttpsServer(
    {
      cert: opts.tls.cert,
      key: opts.tls.key,
      // No client CA, no x509 authentication: do not even ask for a certificate (upstream).
      requestCert: clientCA !== undefined,
      rejectUnauthorized: false,
      ...(clientCA !== undefined ? { ca: clientCA } : {}),
      handshakeTimeout: limits.handshakeTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
      connectionsCheckingInterval: limits.timeoutCheckMs,
    },
    guarded('main', serveMain),
  );
  bound(https, 'main');
  https.on('upgrade', onUpgrade);
  https.on('clientError', onClientError('main'));
  https.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    refuse(
      'main',
      err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'tls-handshake-timeout' : 'tls',
      { code: err.code, err: err.message, remote: socket.remoteAddress },
      'TLS handshake refused',
    );
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    https.once('error', reject);
    https.listen(opts.port, opts.address, () => resolve());
  });
  let health: HttpServer | undefined;
  if (opts.healthz && opts.healthz.port >= 0) {
    health = createHttpServer(
      { maxHeaderSize: limits.maxHeaderBytes, connectionsCheckingInterval: limits.timeoutCheckMs },
      guarded('healthz', (req, res) => {
        const url = parseTarget(req.url);
        if (url.pathname === '/healthz' || url.pathname.startsWith('/healthz/')) healthz(opts.backend, url.pathname, res);
        else send(res, 404, `404 page not found: ${url.pathname}\n`);
        return Promise.resolve();
      }),
    );
    bound(health, 'healthz');
    health.on('clientError', onClientError('healthz'));
    const h = health;
    const where = opts.healthz;
    await new Promise<void>((resolve, reject) => {
      h.once('error', reject);
      h.listen(where.port, where.address, () => resolve());
    });
  }
  const authenticators = [
    ...(clientCA !== undefined ? ['x509 (client certificates chained to the client CA)'] : []),
    ...(opts.tokens ? ['token (TokenReview webhook)'] : []),
    ...(opts.anonymous ? ['anonymous'] : []),
  ];
  log.info(
    { authenticators, authorizer: opts.authorizer.name ?? 'custom', anonymous: opts.anonymous, x509: clientCA !== undefined },
    authenticators.length === 0
      ? 'kubelet API: no authenticator is on, every request will be refused with 401'
      : 'kubelet API authentication and authorization',
  );
  return {
    port: (https.address() as AddressInfo).port,
    healthzPort: health ? (health.address() as AddressInfo).port : undefined,
    close: async () => {
      https.closeAllConnections();
      health?.closeAllConnections();
      for (const s of streams) s.destroy();
      await Promise.all([new Promise<void>((r) => https.close(() => r())), health ? new Promise<void>((r) => health.close(() => r())) : Promise.resolve()]);
    },
  };
}
