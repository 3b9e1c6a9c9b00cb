// Shared pieces of the kubelet server tests: a throwaway PKI (CA, serving certificate, client
// certificates), an HTTPS server on port 0 that plays the API server's TokenReview and
// SubjectAccessReview endpoints (the boundary the webhooks are tested against), a minimal
// backend, and an HTTPS client call.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { ApiClient } from '../../src/api/client.js';
import { createCa } from '../../src/native/certs.js';
import type { KubeletBackend } from '../../src/server/kubelet-server.js';

export interface KeyPair {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  ca: string;
  serving: KeyPair;
  admin: KeyPair;
  viewer: KeyPair;
  close(): void;
}

export async function makePki(prefix = 'kts-srv-'): Promise<Pki> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const c = await createCa(join(dir, 'ca'));
  const load = (p: { certFile: string; keyFile: string }): KeyPair => ({ cert: readFileSync(p.certFile, 'utf8'), key: readFileSync(p.keyFile, 'utf8') });
  return {
    dir,
    ca: readFileSync(c.caFile, 'utf8'),
    serving: load(await c.issueServer('node-a', ['localhost', '127.0.0.1'])),
    admin: load(await c.issueClient('admin', ['system:masters'])),
    viewer: load(await c.issueClient('viewer')),
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Review {
  path: string;
  body: { apiVersion?: string; kind?: string; spec?: Record<string, unknown> };
}

/** What the fake API server answers a review with: a status object, or an HTTP error. */
export type ReviewAnswer = { status: Record<string, unknown> } | { httpStatus: number; message: string };

export interface FakeApiServer {
  url: string;
  reviews: Review[];
  /** Replaced by each test: decides the answer to a review. */
  answer: (r: Review) => ReviewAnswer | Promise<ReviewAnswer>;
  client(): ApiClient;
  close(): Promise<void>;
}

export async function startFakeApiServer(pki: Pki): Promise<FakeApiServer> {
  const clients: ApiClient[] = [];
  const fake: FakeApiServer = {
    url: '',
    reviews: [],
    answer: () => ({ httpStatus: 500, message: 'no answer set' }),
    client: () => {
      const c = new ApiClient({ server: fake.url, ca: pki.ca, cert: pki.admin.cert, key: pki.admin.key }, { qps: 1000, burst: 1000, timeoutMs: 5_000 });
      clients.push(c);
      return c;
    },
    close: () => Promise.resolve(),
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    const review: Review = { path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Review['body'] };
    fake.reviews.push(review);
    const a = await fake.answer(review);
    if ('httpStatus' in a) {
      res.writeHead(a.httpStatus, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: a.message, code: a.httpStatus }));
      return;
    }
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...review.body, status: a.status }));
  };
  const server: Server = createServer({ cert: pki.serving.cert, key: pki.serving.key }, (req, res) => {
    handle(req, res).catch(() => {
      res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  fake.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = async () => {
    for (const c of clients) c.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return fake;
}

export function minimalBackend(extra: Partial<KubeletBackend> = {}): KubeletBackend {
  return {
    nodeName: 'node-a',
    pods: () => [],
    runningPods: () => Promise.resolve([]),
    registry: new Registry(),
    configz: () => ({}),
    containerLog: () => Promise.resolve({ error: 'no logs here', status: 404 }),
    healthChecks: [],
    ...extra,
  };
}

export interface Reply {
  status: number;
  body: string;
}

export function call(
  port: number,
  path: string,
  opts: { ca: string; who?: KeyPair; token?: string; method?: string; headers?: Record<string, string> },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token) headers['authorization'] = `Bearer ${opts.token}`;
    const req = request(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', ca: opts.ca, ...(opts.who ?? {}), servername: 'localhost', headers, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A clock the test moves by hand. */
export function manualClock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

export interface Upgraded {
  status: number;
  head: string;
  /** Bytes after the response head (the body of a refusal, or the first stream bytes). */
  rest: Buffer;
  socket: TLSSocket;
}

/** Sends an upgrade request on a raw TLS connection and reads the response head. */
export function upgradeRequest(
  port: number,
  path: string,
  opts: { ca: string; who?: KeyPair; method?: string; headers?: [string, string][] },
): Promise<Upgraded> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: opts.ca, servername: 'localhost', ...(opts.who ?? {}) }, () => {
      const headers = opts.headers ?? [
        ['Connection', 'Upgrade'],
        ['Upgrade', 'SPDY/3.1'],
      ];
      socket.write(`${opts.method ?? 'POST'} ${path} HTTP/1.1\r\nHost: localhost\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    });
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const head = buf.subarray(0, end).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
      resolve({ status, head, rest: buf.subarray(end + 4), socket });
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Reads from a socket until `until` says the bytes so far are enough (or the socket ends). */
export function readUntil(socket: TLSSocket, first: Buffer, until: (all: Buffer) => boolean, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = first;
    if (until(buf)) {
      resolve(buf);
      return;
    }
    const timer = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(buf.toString('latin1'))}`)), timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(buf);
    };
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (until(buf)) done();
    };
    socket.on('data', onData);
    socket.once('end', done);
  });
}
