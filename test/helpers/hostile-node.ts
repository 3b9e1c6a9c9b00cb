// A kubelet-ts node to attack: the `kubelet-ts` command as a child process on its embedded
// simulated runtime, with every pod source on (a manifest folder, a manifest URL this helper
// serves, POST /static-pods), its HTTPS API (client certificates from a throwaway CA, AlwaysAllow)
// and /healthz. A child process, so that a crash or an abort is seen as the process's exit, and
// its RSS is its own. A "sentinel" pod runs throughout: whatever the attack, it must keep its
// sandbox and container untouched.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopChild } from '../../src/util/child-process.js';
import { call, makePki, type Pki, type Reply } from '../server/fixtures.js';
import { freePort } from './net.js';

export const SENTINEL = 'sentinel';

export interface HostileNode {
  pki: Pki;
  dir: string;
  manifestDir: string;
  nodeName: string;
  port: number;
  healthzPort: number;
  /** What the manifest URL serves now (the kubelet polls it every second). */
  urlBody: string;
  /** The exit of the process, if it has exited (it never should). */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  rssBytes(): number;
  /** An authenticated request (the admin client certificate) to the HTTPS API. */
  call(path: string, opts?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<Reply>;
  post(text: string): Promise<Reply>;
  /** The sentinel pod as /pods shows it: its phase and its container's ID. */
  sentinel(): Promise<{ phase: string; containerID: string; restartCount: number } | undefined>;
  waitSentinelRunning(timeoutMs?: number): Promise<{ phase: string; containerID: string; restartCount: number }>;
  /** The last lines of the kubelet's log (for failure messages). */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

const sentinelManifest = (): string =>
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: SENTINEL, namespace: 'default' },
    spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'busybox:1.35', command: ['sleep', 'infinity'] }] },
  });

export async function startHostileNode(opts: { nodeName?: string; extraArgs?: string[] } = {}): Promise<HostileNode> {
  const nodeName = opts.nodeName ?? 'hostile';
  const dir = mkdtempSync(join(tmpdir(), 'kts-hostile-'));
  const manifestDir = join(dir, 'manifests');
  mkdirSync(manifestDir);
  writeFileSync(join(manifestDir, `${SENTINEL}.json`), sentinelManifest());
  const pki = await makePki('kts-hostile-pki-');
  writeFileSync(join(dir, 'ca.crt'), pki.ca);
  writeFileSync(join(dir, 'tls.crt'), pki.serving.cert);
  writeFileSync(join(dir, 'tls.key'), pki.serving.key, { mode: 0o600 });
  const state = { body: '' };
  const urlServer: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/yaml' });
    res.end(state.body);
  });
  await new Promise<void>((r) => urlServer.listen(0, '127.0.0.1', () => r()));
  const urlPort = (urlServer.address() as AddressInfo).port;
  const port = await freePort();
  const healthzPort = await freePort();
  const logFile = join(dir, 'kubelet.log');
  const args = [
    join(process.cwd(), 'dist/src/cli.js'),
    '--embedded-runtime',
    'sim',
    '--hostname-override',
    nodeName,
    '--root-dir',
    join(dir, 'root'),
    '--cert-dir',
    join(dir, 'pki'),
    '--tls-cert-file',
    join(dir, 'tls.crt'),
    '--tls-private-key-file',
    join(dir, 'tls.key'),
    '--client-ca-file',
    join(dir, 'ca.crt'),
    '--authorization-mode',
    'AlwaysAllow',
    '--address',
    '127.0.0.1',
    '--port',
    String(port),
    '--healthz-bind-address',
    '127.0.0.1',
    '--healthz-port',
    String(healthzPort),
    '--pod-manifest-path',
    manifestDir,
    '--file-check-frequency',
    '1s',
    '--manifest-url',
    `http://127.0.0.1:${urlPort}/pods.yaml`,
    '--http-check-frequency',
    '1s',
    '--max-pods',
    '500',
    ...(opts.extraArgs ?? []),
  ];
  const out = join(dir, 'kubelet.log');
  writeFileSync(out, '');
  const child: ChildProcess = spawn(process.execPath, args, { env: { ...process.env, KUBELET_TS_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const { createWriteStream } = await import('node:fs');
  const sink = createWriteStream(logFile, { flags: 'a' });
  child.stdout?.pipe(sink);
  child.stderr?.pipe(sink);
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.once('exit', (code, signal) => {
    exit = { code, signal };
  });
  const node: HostileNode = {
    pki,
    dir,
    manifestDir,
    nodeName,
    port,
    healthzPort,
    get urlBody() {
      return state.body;
    },
    set urlBody(v: string) {
      state.body = v;
    },
    exited: () => exit,
    rssBytes: () => {
      if (!child.pid) return 0;
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        return m?.[1] ? Number(m[1]) * 1024 : 0;
      } catch {
        return 0;
      }
    },
    call: (path, o = {}) => callWithBody(port, path, pki, o),
    post: (text) => callWithBody(port, '/static-pods', pki, { method: 'POST', body: text, headers: { 'content-type': 'application/yaml' } }),
    sentinel: async () => {
      const r = await node.call('/pods');
      if (r.status !== 200) return undefined;
      const list = JSON.parse(r.body) as {
        items: { metadata: { name?: string }; status?: { phase?: string; containerStatuses?: { containerID?: string; restartCount?: number }[] } }[];
      };
      const p = list.items.find((x) => x.metadata.name === `${SENTINEL}-${nodeName}`);
      const cs = p?.status?.containerStatuses?.[0];
      return p && cs ? { phase: p.status?.phase ?? '', containerID: cs.containerID ?? '', restartCount: cs.restartCount ?? 0 } : undefined;
    },
    waitSentinelRunning: async (timeoutMs = 60_000) => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        if (exit) throw new Error(`the kubelet exited (${JSON.stringify(exit)}):\n${node.logTail()}`);
        const s = await node.sentinel().catch(() => undefined);
        if (s && s.phase === 'Running' && s.containerID) return s;
        if (Date.now() > until) throw new Error(`the sentinel pod is not Running after ${timeoutMs} ms (last: ${JSON.stringify(s)}):\n${node.logTail()}`);
        await sleep(200);
      }
    },
    logTail: (lines = 40) => {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
    stop: async () => {
      await stopChild(child, 5000);
      sink.end();
      urlServer.closeAllConnections();
      await new Promise<void>((r) => urlServer.close(() => r()));
      pki.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await node.waitSentinelRunning();
  } catch (err) {
    await node.stop();
    throw err;
  }
  return node;
}

async function callWithBody(port: number, path: string, pki: Pki, o: { method?: string; headers?: Record<string, string>; body?: string }): Promise<Reply> {
  if (o.body === undefined)
    return call(port, path, { ca: pki.ca, who: pki.admin, ...(o.method ? { method: o.method } : {}), ...(o.headers ? { headers: o.headers } : {}) });
  const { request } = await import('node:https');
  const body = o.body;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: o.method ?? 'POST',
        ca: pki.ca,
        ...pki.admin,
        servername: 'localhost',
        headers: { ...(o.headers ?? {}), 'content-length': Buffer.byteLength(body) },
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
