// One HTTP GET check, as upstream's HTTP prober does it (probes and httpGet lifecycle hooks):
// a fresh connection per check (no keep-alive, no compression), TLS without certificate
// verification, User-Agent `kube-probe/<major.minor>` and `Accept: */*` unless the spec sets
// them, a `Host` header that replaces the request's host, at most 10 KiB of body read.
// Outcome: 200-399 success, anything else failure; redirects to the same hostname are followed
// (up to 10), a redirect to another hostname is not followed and ends as a warning (success that
// deserves an event). The whole exchange, redirects included, runs within one deadline (Go's
// Client.Timeout). Never throws: every error becomes a failure with a Go-like message, because
// users grep their events for the strings upstream gives.
import http from 'node:http';
import https from 'node:https';
import { isIPv6 } from 'node:net';
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

// Shared agents without keep-alive: every check still opens its own connection and sends
// `Connection: close` (upstream's DisableKeepAlives), without building an agent per request,
// which showed in the probe thread's profile at 1000 containers.
const httpAgent = new http.Agent({ keepAlive: false });
const httpsAgent = new https.Agent({ keepAlive: false, rejectUnauthorized: false });

/** Upstream reads at most this much of a response body (maxRespBodyLength). */
export const MAX_BODY_BYTES = 10 * 1024;
const MAX_REDIRECTS = 10;

export function probeUserAgent(version = packageVersion()): string {
  const [major = '0', minor = '0'] = version.replace(/^v/, '').split('.');
  return `kube-probe/${major}.${minor}`;
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

/** The request in flight, so the deadline can end it (cheaper than an AbortSignal per check). */
interface Deadline {
  expired: boolean;
  current: http.ClientRequest | undefined;
}

function getOnce(url: URL, headers: Record<string, string>, hostHeader: string | undefined, deadline: Deadline): Promise<OneResponse> {
  return new Promise((resolve, reject) => {
    const tls = url.protocol === 'https:';
    const h: Record<string, string> = { ...headers };
    if (hostHeader !== undefined) h.Host = hostHeader;
    if (deadline.expired) {
      reject(new Error('deadline exceeded'));
      return;
    }
    const req = (tls ? https : http).request(
      url,
      { method: 'GET', headers: h, agent: tls ? httpsAgent : httpAgent },
      (res) => {
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
      },
    );
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
 * Runs one HTTP GET against `target` within `timeoutMs` and classifies it as upstream does.
 * Resolves always; never rejects.
 */
export async function httpGetAction(target: HttpGetTarget, timeoutMs: number, opts: HttpGetOptions = {}): Promise<HttpGetResult> {
  let url: URL;
  try {
    url = httpGetUrl(target);
  } catch (err) {
    return { result: 'failure', message: `invalid URL for ${target.host}:${target.port}${target.path ?? ''}: ${err instanceof Error ? err.message : String(err)}` };
  }
  const { headers, host } = requestHeaders(target, opts);
  const deadline: Deadline = { expired: false, current: undefined };
  const timer = setTimeout(() => {
    deadline.expired = true;
    deadline.current?.destroy(new Error('deadline exceeded'));
  }, Math.max(1, timeoutMs));
  const first = url;
  let current = url;
  try {
    for (let redirects = 0; ; redirects++) {
      const res = await getOnce(current, headers, host, deadline);
      const isRedirect = [301, 302, 303, 307, 308].includes(res.statusCode) && res.location !== undefined;
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
