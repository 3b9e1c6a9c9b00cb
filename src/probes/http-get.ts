// One HTTP GET check, as upstream's HTTP prober does it (probes and httpGet lifecycle hooks):
// a fresh connection per check (no keep-alive, no compression), TLS without certificate
// verification, User-Agent `kube-probe/<major.minor>` and `Accept: */*` unless the spec sets
// them, a `Host` header that replaces the request's host, at most 10 KiB of body read.
// Outcome: 200-399 success, anything else failure; redirects to the same hostname are followed
// (up to 10), a redirect to another hostname is not followed and ends as a warning (success that
// deserves an event). The whole exchange, redirects included, runs within one deadline (Go's
// Client.Timeout). Never throws: every error becomes a failure with a Go-like message, because
// users grep their events for the strings upstream gives.
import https from 'node:https';
import { connect, isIPv6 } from 'node:net';
import { packageVersion } from '../version.js';

export interface HttpGetTarget {
  host: string;
  port: number;
  /** Path with an optional query (`/healthz?verbose`); empty means `/`. */
  path?: string;
  scheme?: 'HTTP' | 'HTTPS';
  headers?: readonly { name: string; value: string }[];
}

export interface HttpGetResult {
  result: 'success' | 'failure' | 'warning';
  message: string;
  statusCode?: number;
}

export interface HttpGetOptions {
  /** Version for the User-Agent (`kube-probe/<major.minor>`); defaults to the package's. */
  version?: string;
  /** The hook variant of the request has its own User-Agent upstream; probes use kube-probe. */
  userAgent?: string;
}

// Plain HTTP goes on a raw socket (plainGetOnce below); HTTPS through node:https with a shared
// agent without keep-alive: every check still opens its own connection and sends
// `Connection: close` (upstream's DisableKeepAlives), without building an agent per request.
const httpsAgent = new https.Agent({ keepAlive: false, rejectUnauthorized: false });

/** Upstream reads at most this much of a response body (maxRespBodyLength). */
export const MAX_BODY_BYTES = 10 * 1024;
const MAX_REDIRECTS = 10;

const userAgents = new Map<string, string>();

export function probeUserAgent(version?: string): string {
  const v = version ?? packageVersion();
  let ua = userAgents.get(v);
  if (ua === undefined) {
    const [major = '0', minor = '0'] = v.replace(/^v/, '').split('.');
    ua = `kube-probe/${major}.${minor}`;
    if (userAgents.size < 64) userAgents.set(v, ua);
  }
  return ua;
}

/** The URL upstream builds: scheme://host:port/path, an IPv6 host in brackets. */
export function httpGetUrl(t: HttpGetTarget): URL {
  const scheme = (t.scheme ?? 'HTTP').toLowerCase();
  const host = isIPv6(t.host) ? `[${t.host}]` : t.host;
  let path = t.path ?? '';
  if (path !== '' && !path.startsWith('/')) path = `/${path}`;
  return new URL(`${scheme}://${host}:${t.port}${path}`);
}

function requestHeaders(t: HttpGetTarget, opts: HttpGetOptions): { headers: Record<string, string>; host?: string } {
  const headers: Record<string, string> = {};
  const lower = new Set<string>();
  let host: string | undefined;
  for (const h of t.headers ?? []) {
    const key = h.name.toLowerCase();
    if (key === 'host') {
      host = h.value;
      continue;
    }
    lower.add(key);
    // Upstream sets the header list as given; a repeated name keeps its values (joined, as HTTP allows).
    headers[h.name] = headers[h.name] !== undefined ? `${headers[h.name]}, ${h.value}` : h.value;
  }
  if (!lower.has('user-agent')) headers['User-Agent'] = opts.userAgent ?? probeUserAgent(opts.version);
  if (!lower.has('accept')) headers.Accept = '*/*';
  // An empty value the user set means "do not send" (Go drops headers with no value).
  for (const [k, v] of Object.entries(headers)) if (v === '') delete headers[k];
  return host !== undefined ? { headers, host } : { headers };
}

interface OneResponse {
  statusCode: number;
  location: string | undefined;
  body: string;
}

/** What the deadline ends: the request (HTTPS) or the socket (HTTP) in flight. */
interface Deadline {
  expired: boolean;
  current: { destroy(err?: Error): unknown } | undefined;
}

/** node:http's checks on outgoing headers, with its error codes and messages. */
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

function headerError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * The header lines of a plain-HTTP request after the request line, as node:http writes them for
 * these headers (last spelling and value of a name case-insensitively repeated, in the place it
 * first took; then Host; then `Connection: close`), or the error node:http would throw.
 */
function headerBlock(headers: Record<string, string>, host: string): string | Error {
  const lines = new Map<string, string>();
  for (const [name, value] of Object.entries({ ...headers, Host: host })) {
    if (!TOKEN.test(name)) return headerError('ERR_INVALID_HTTP_TOKEN', `Header name must be a valid HTTP token ["${name}"]`);
    if (INVALID_VALUE.test(value)) return headerError('ERR_INVALID_CHAR', `Invalid character in header content ["${name}"]`);
    lines.set(name.toLowerCase(), `${name}: ${value}\r\n`);
  }
  let out = '';
  for (const l of lines.values()) out += l;
  return `${out}Connection: close\r\n\r\n`;
}

/** The Host node:http sends for a URL: host[:port], the port left out when it is the scheme's default. */
function urlHost(url: URL): string {
  return url.port === '' ? url.hostname : `${url.hostname}:${url.port}`;
}

/** The request bytes of one plain-HTTP GET, or the error node:http would give for its headers. */
function plainRequest(url: URL, headers: Record<string, string>, hostHeader: string | undefined): Buffer | Error {
  // An empty Host the spec set is no Host to node:http, which then sends the URL's.
  const block = headerBlock(headers, hostHeader || urlHost(url));
  if (block instanceof Error) return block;
  return Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\n${block}`, 'latin1');
}

/** node:http's limit on a response head (--max-http-header-size). */
const MAX_HEAD_BYTES = 16 * 1024;

function parseError(code: string, reason: string): Error {
  return Object.assign(new Error(`Parse Error: ${reason}`), { code });
}

function connReset(message: string): Error {
  return Object.assign(new Error(message), { code: 'ECONNRESET' });
}

/**
 * One plain-HTTP GET on a socket of its own: the request written at once, the response read by
 * a small HTTP/1.x parser (status, Location, Content-Length or chunked or until close, 1xx
 * skipped) that stops once the body is complete or 10 KiB of it are in. The same observable
 * exchange as node:http with a keep-alive-less agent, without its per-request machinery
 * (ClientRequest, IncomingMessage, the llhttp parser, agent bookkeeping), which was most of the
 * probe thread's CPU per httpGet. Errors carry node:http's codes (ECONNRESET `socket hang up`
 * before the head, `aborted` in the body) so they map to the same Go-like messages.
 */
function plainGetOnce(url: URL, request: Buffer, deadline: Deadline): Promise<OneResponse> {
  return new Promise((resolve, reject) => {
    if (deadline.expired) {
      reject(new Error('deadline exceeded'));
      return;
    }
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const socket = connect({ host, port: url.port === '' ? 80 : Number(url.port) });
    deadline.current = socket;
    let done = false;
    // Head: bytes not yet parsed; body: what is kept of the body.
    let pending: Buffer | undefined;
    let statusCode = 0;
    let location: string | undefined;
    let mode: 'head' | 'length' | 'chunked' | 'eof' = 'head';
    let remaining = 0;
    let chunkState: 'size' | 'data' | 'data-end' | 'trailer' = 'size';
    const body: Buffer[] = [];
    let bodySize = 0;

    const fail = (err: Error): void => {
      if (done) return;
      done = true;
      socket.destroy();
      reject(err);
    };
    const finish = (): void => {
      if (done) return;
      done = true;
      socket.destroy();
      const b = body.length === 1 ? (body[0] as Buffer) : Buffer.concat(body);
      resolve({ statusCode, location, body: b.subarray(0, MAX_BODY_BYTES).toString('utf8') });
    };
    /** Keeps body bytes; true when the limit is reached (the rest is not read, as upstream). */
    const keep = (b: Buffer): boolean => {
      if (b.length === 0) return false;
      body.push(b);
      bodySize += b.length;
      return bodySize >= MAX_BODY_BYTES;
    };

    /** Parses a response head at the start of `buf`; returns the bytes after it, or undefined for more. */
    const head = (buf: Buffer): Buffer | undefined | Error => {
      let end = buf.indexOf('\r\n\r\n');
      let sep = 4;
      if (end < 0) {
        end = buf.indexOf('\n\n');
        sep = 2;
      }
      if (end < 0) return buf.length > MAX_HEAD_BYTES ? parseError('HPE_HEADER_OVERFLOW', 'Header overflow') : undefined;
      if (end > MAX_HEAD_BYTES) return parseError('HPE_HEADER_OVERFLOW', 'Header overflow');
      const lines = buf.toString('latin1', 0, end).split(/\r?\n/);
      const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '');
      if (!status) return parseError('HPE_INVALID_CONSTANT', 'Expected HTTP/');
      const code = Number(status[1]);
      let length: number | undefined;
      let chunked = false;
      let loc: string | undefined;
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i] ?? '';
        const colon = line.indexOf(':');
        if (colon <= 0) return parseError('HPE_INVALID_HEADER_TOKEN', 'Invalid header token');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === 'location') loc ??= value;
        else if (name === 'content-length') {
          if (!/^\d+$/.test(value)) return parseError('HPE_INVALID_CONTENT_LENGTH', 'Invalid character in Content-Length');
          length = Number(value);
        } else if (name === 'transfer-encoding') chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
      }
      const rest = buf.subarray(end + sep);
      // An informational answer (100 Continue, 103 Early Hints): the real one follows.
      if (code >= 100 && code < 200 && code !== 101) return rest;
      statusCode = code;
      location = loc;
      if (code === 204 || code === 304 || code === 101) {
        mode = 'length';
        remaining = 0;
      } else if (chunked) mode = 'chunked';
      else if (length !== undefined) {
        mode = 'length';
        remaining = length;
      } else mode = 'eof';
      return rest;
    };

    /** Feeds body bytes; true when the response is complete (or the limit reached). */
    const feedBody = (buf: Buffer): boolean | Error => {
      if (mode === 'eof') return keep(buf);
      if (mode === 'length') {
        const take = buf.subarray(0, remaining);
        remaining -= take.length;
        return keep(take) || remaining === 0;
      }
      // Chunked: pending holds an incomplete size line or trailer.
      let b = pending ? Buffer.concat([pending, buf]) : buf;
      pending = undefined;
      for (;;) {
        if (chunkState === 'data') {
          const take = b.subarray(0, remaining);
          remaining -= take.length;
          b = b.subarray(take.length);
          if (keep(take)) return true;
          if (remaining > 0) return false;
          chunkState = 'data-end';
        }
        const nl = b.indexOf(10);
        if (nl < 0) {
          if (b.length > MAX_HEAD_BYTES) return parseError('HPE_CHUNK_EXTENSIONS_OVERFLOW', 'Chunk extensions overflow');
          pending = b.length > 0 ? b : undefined;
          return false;
        }
        const line = b.toString('latin1', 0, nl).replace(/\r$/, '');
        b = b.subarray(nl + 1);
        if (chunkState === 'data-end') {
          if (line !== '') return parseError('HPE_STRICT', 'Expected LF after chunk data');
          chunkState = 'size';
        } else if (chunkState === 'size') {
          const m = /^([0-9a-fA-F]+)(?:[ \t]*;.*)?$/.exec(line);
          if (!m) return parseError('HPE_INVALID_CHUNK_SIZE', 'Invalid character in chunk size');
          remaining = parseInt(m[1] ?? '0', 16);
          chunkState = remaining === 0 ? 'trailer' : 'data';
        } else if (line === '') return true;
      }
    };

    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      let buf = chunk;
      if (mode === 'head') {
        buf = pending ? Buffer.concat([pending, chunk]) : chunk;
        pending = undefined;
        while (mode === 'head') {
          const r = head(buf);
          if (r instanceof Error) return fail(r);
          if (r === undefined) {
            pending = buf;
            return;
          }
          buf = r;
        }
      }
      const r = mode === 'length' && remaining === 0 ? true : feedBody(buf);
      if (r instanceof Error) fail(r);
      else if (r) finish();
    });
    // The peer closed: the end of an until-close body, else the exchange broke off. (Checked
    // before building the error: 'close' follows every finish, and an Error is not cheap.)
    const closed = (): void => {
      if (done) return;
      if (mode === 'eof') finish();
      else fail(connReset(mode === 'head' ? 'socket hang up' : 'aborted'));
    };
    socket.on('end', closed);
    socket.on('error', fail);
    socket.on('close', closed);
    socket.write(request);
  });
}

function tlsGetOnce(url: URL, headers: Record<string, string>, hostHeader: string | undefined, deadline: Deadline): Promise<OneResponse> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { ...headers };
    if (hostHeader !== undefined) h.Host = hostHeader;
    if (deadline.expired) {
      reject(new Error('deadline exceeded'));
      return;
    }
    const req = https.request(url, { method: 'GET', headers: h, agent: httpsAgent }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        resolve({ statusCode: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8') });
        res.destroy();
      };
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        size += c.length;
        // Past the limit the rest is not read (upstream truncates, it is not an error).
        if (size >= MAX_BODY_BYTES) finish();
      });
      res.on('end', finish);
      res.on('error', (err) => {
        if (!done) reject(err);
      });
    });
    deadline.current = req;
    req.on('error', reject);
    req.end();
  });
}

function goError(url: URL, err: unknown, timedOut: boolean): string {
  const target = `Get "${url.href}"`;
  if (timedOut) return `${target}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)`;
  const e = err as NodeJS.ErrnoException;
  // WHATWG keeps IPv6 hostnames in brackets, which is how Go prints host:port too.
  const addr = `${url.hostname}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
  switch (e.code ?? '') {
    case 'ECONNREFUSED':
      return `${target}: dial tcp ${addr}: connect: connection refused`;
    case 'EHOSTUNREACH':
      return `${target}: dial tcp ${addr}: connect: no route to host`;
    case 'ENETUNREACH':
      return `${target}: dial tcp ${addr}: connect: network is unreachable`;
    case 'ECONNRESET':
      return `${target}: read tcp ${addr}: read: connection reset by peer`;
    case 'ENOTFOUND':
      return `${target}: dial tcp: lookup ${url.hostname}: no such host`;
    default:
      return `${target}: ${e.message ?? String(err)}`;
  }
}

/**
 * One check's target made ready once: the URL, the headers, and the request bytes for the first
 * URL (plain HTTP), so a probe that runs every second does not build them every second. A
 * redirect builds its request when it happens.
 */
export interface PreparedHttpGet {
  readonly url: URL | undefined;
  /** The failure message of a target whose URL does not parse. */
  readonly invalid: string | undefined;
  readonly headers: Record<string, string>;
  readonly host: string | undefined;
  /** Request bytes for `url` when it is plain HTTP (or node:http's header error). */
  readonly request: Buffer | Error | undefined;
}

export function prepareHttpGet(target: HttpGetTarget, opts: HttpGetOptions = {}): PreparedHttpGet {
  const { headers, host } = requestHeaders(target, opts);
  let url: URL;
  try {
    url = httpGetUrl(target);
  } catch (err) {
    return {
      url: undefined,
      invalid: `invalid URL for ${target.host}:${target.port}${target.path ?? ''}: ${err instanceof Error ? err.message : String(err)}`,
      headers,
      host,
      request: undefined,
    };
  }
  return { url, invalid: undefined, headers, host, request: url.protocol === 'http:' ? plainRequest(url, headers, host) : undefined };
}

function getOnce(url: URL, p: PreparedHttpGet, deadline: Deadline): Promise<OneResponse> {
  if (url.protocol === 'https:') return tlsGetOnce(url, p.headers, p.host, deadline);
  const request = url === p.url && p.request !== undefined ? p.request : plainRequest(url, p.headers, p.host);
  if (request instanceof Error) return Promise.reject(request);
  return plainGetOnce(url, request, deadline);
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Runs one HTTP GET against `target` within `timeoutMs` and classifies it as upstream does.
 * Resolves always; never rejects.
 */
export function httpGetAction(target: HttpGetTarget, timeoutMs: number, opts: HttpGetOptions = {}): Promise<HttpGetResult> {
  return runHttpGet(prepareHttpGet(target, opts), timeoutMs);
}

/** httpGetAction on a prepared target (what the probe thread calls, preparing each probe once). */
export async function runHttpGet(p: PreparedHttpGet, timeoutMs: number): Promise<HttpGetResult> {
  const url = p.url;
  if (url === undefined) return { result: 'failure', message: p.invalid ?? 'invalid URL' };
  const deadline: Deadline = { expired: false, current: undefined };
  const timer = setTimeout(
    () => {
      deadline.expired = true;
      deadline.current?.destroy(new Error('deadline exceeded'));
    },
    Math.max(1, timeoutMs),
  );
  const first = url;
  let current = url;
  try {
    for (let redirects = 0; ; redirects++) {
      const res = await getOnce(current, p, deadline);
      const isRedirect = REDIRECTS.has(res.statusCode) && res.location !== undefined;
      if (isRedirect) {
        const next = new URL(res.location ?? '', current);
        // Upstream follows only redirects to the hostname first asked (the port may differ).
        if (next.hostname === first.hostname && (next.protocol === 'http:' || next.protocol === 'https:')) {
          if (redirects + 1 > MAX_REDIRECTS) return { result: 'failure', message: `Get "${next.href}": stopped after ${MAX_REDIRECTS} redirects` };
          current = next;
          continue;
        }
      }
      return classify(res);
    }
  } catch (err) {
    return { result: 'failure', message: goError(current, err, deadline.expired) };
  } finally {
    clearTimeout(timer);
  }
}

function classify(res: OneResponse): HttpGetResult {
  const code = res.statusCode;
  if (code >= 200 && code < 400) {
    if (code >= 300) return { result: 'warning', message: `Probe terminated redirects, Response body: ${res.body}`, statusCode: code };
    return { result: 'success', message: res.body, statusCode: code };
  }
  return { result: 'failure', message: `HTTP probe failed with statuscode: ${code}`, statusCode: code };
}
