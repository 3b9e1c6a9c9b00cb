// The HTTP request of an httpGet lifecycle hook: one GET, a fresh connection, TLS without
// certificate checks for HTTPS (as upstream's hook client), the spec's headers (a `Host` header
// replaces the host). Upstream's hook only fails on a transport error: any HTTP answer, whatever
// its status, counts as the hook having run. The body is read and dropped.
// A minimal client of its own: the probe scheduler's httpGet (src/probes/http-get.ts) has other
// rules (status 200-399, redirects) that hooks do not share.
import http from 'node:http';
import https from 'node:https';
import { isIPv6 } from 'node:net';

export interface HookHttpTarget {
  host: string;
  port: number;
  path: string;
  scheme: 'HTTP' | 'HTTPS';
  headers: readonly { name: string; value: string }[];
}

/** Resolves to `{}` when a response came back, else to the transport error's text. */
export function hookHttpGet(t: HookHttpTarget, signal?: AbortSignal): Promise<{ statusCode?: number; error?: string }> {
  const host = isIPv6(t.host) ? `[${t.host}]` : t.host;
  const path = t.path === '' ? '/' : t.path.startsWith('/') ? t.path : `/${t.path}`;
  const url = `${t.scheme === 'HTTPS' ? 'https' : 'http'}://${host}:${t.port}${path}`;
  const headers: Record<string, string> = {};
  for (const h of t.headers) headers[h.name] = h.value;
  return new Promise((resolve) => {
    const lib = t.scheme === 'HTTPS' ? https : http;
    // insecureHTTPParser: Go's client (upstream's) accepts bare-LF headers, as CGI scripts behind
    // busybox httpd write them; Node's strict parser would fail such a hook.
    const req = lib.get(url, { headers, agent: false, rejectUnauthorized: false, insecureHTTPParser: true, ...(signal ? { signal } : {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === undefined ? {} : { statusCode: res.statusCode }));
      res.on('error', (err) => resolve({ error: `Get ${JSON.stringify(url)}: ${err.message}` }));
    });
    req.on('error', (err) => resolve({ error: `Get ${JSON.stringify(url)}: ${err.message}` }));
  });
}
