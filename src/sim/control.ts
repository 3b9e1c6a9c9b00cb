// The sim-runtime control API: a small HTTP server on a unix socket for switching latency and
// faults while a kubelet runs against the sim (chaos runs), and reading counts:
//
//   GET    /faults      the fault rules by RPC             PUT /faults  {RPC|"*": FaultSpec}
//   GET    /latency     the latency rules by RPC           PUT /latency {RPC|"*": LatencySpec}
//   DELETE /faults, DELETE /latency                       clear them
//   GET    /stats       sandboxes, containers, calls, injected errors and hangs
//   POST   /crash       {"containerIds": [...], "code"?: 137, "oom"?: false}: those running
//                       containers die now (chaos, crash storms); answers {"crashed", "notRunning", "unknown"}
//   GET    /node        the node's figures, as set and with the running containers' usage
//                       taken off ("effective": what a kubelet reads)
//                       PATCH /node  any part of them (the node with no pod running):
//                       {"memory": {"availableBytes": N}, "nodefs": {...}, "imagefs": {...}, "pids": {...}}
//   GET    /usage       per-pod usage overrides            PUT /usage   {"<pod UID>": {"workingSetBytes"?,
//                       "writableLayerBytes"?, "writableLayerInodes"?} | null}: set (null: clear) those pods
//
//   curl --unix-socket /run/sim-control.sock -X PUT localhost/faults \
//        -d '{"CreateContainer": {"errorRate": 0.5, "code": "UNAVAILABLE"}}'
//
// PUT replaces the whole table; a bad body gets 400 with {"error": "..."} naming the field.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { silentLogger } from '../log.js';
import { BadRequestError, parseTarget } from '../server/request-target.js';
import type { SimRuntime } from './runtime.js';
import { parsePodUsageOverride, type PodUsageOverride } from './node-figures.js';

export interface SimControlServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

/** `unix:///path` or `/path` to a socket path. */
export function controlSocketPath(listen: string): string {
  if (listen.startsWith('unix://')) {
    const p = listen.slice('unix://'.length);
    if (!p.startsWith('/')) throw new Error(`control endpoint ${JSON.stringify(listen)}: the socket path must be absolute (unix:///path)`);
    return p;
  }
  if (listen.startsWith('/')) return listen;
  throw new Error(`control endpoint ${JSON.stringify(listen)}: use unix:///path/to/socket`);
}

const MAX_BODY = 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body over 1 MiB'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, code: number, body: unknown): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The request's JSON body, or undefined after answering 400 for one that is not JSON. */
async function jsonBody(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
  try {
    return JSON.parse(await readBody(req)) as unknown;
  } catch (err) {
    send(res, 400, { error: `body is not JSON: ${err instanceof Error ? err.message : String(err)}` });
    return undefined;
  }
}

export async function startSimControlServer(sim: SimRuntime, opts: { listen: string; logger?: Logger }): Promise<SimControlServer> {
  const socketPath = controlSocketPath(opts.listen);
  const log = (opts.logger ?? silentLogger).child({ component: 'sim-control', socket: socketPath });
  mkdirSync(dirname(socketPath), { recursive: true });
  if (existsSync(socketPath)) rmSync(socketPath);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The kubelet API's target parser: a malformed target is a 400, never a throw.
    const path = parseTarget(req.url).pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    const tables = { '/faults': sim.faults, '/latency': sim.latency } as const;
    if (path === '/stats') {
      if (method !== 'GET') return send(res, 405, { error: `${method} ${path}: use GET` });
      return send(res, 200, sim.stats());
    }
    if (path === '/faults' || path === '/latency') {
      const table = tables[path];
      if (method === 'GET') return send(res, 200, table.toJSON());
      if (method === 'DELETE') {
        table.clear();
        log.info({ path }, 'rules cleared');
        return send(res, 200, table.toJSON());
      }
      if (method === 'PUT') {
        let body: unknown;
        try {
          const text = await readBody(req);
          body = text.trim() === '' ? {} : JSON.parse(text);
        } catch (err) {
          return send(res, 400, { error: `body is not JSON: ${err instanceof Error ? err.message : String(err)}` });
        }
        try {
          table.replace(body as Record<string, unknown>);
        } catch (err) {
          return send(res, 400, { error: err instanceof Error ? err.message : String(err) });
        }
        log.info({ path, rules: table.toJSON() }, 'rules replaced');
        return send(res, 200, table.toJSON());
      }
      return send(res, 405, { error: `${method} ${path}: use GET, PUT or DELETE` });
    }
    if (path === '/crash') {
      if (method !== 'POST') return send(res, 405, { error: `${method} ${path}: use POST` });
      let body: { containerIds?: unknown; code?: unknown; oom?: unknown };
      try {
        body = JSON.parse(await readBody(req)) as typeof body;
      } catch (err) {
        return send(res, 400, { error: `body is not JSON: ${err instanceof Error ? err.message : String(err)}` });
      }
      const ids = body?.containerIds;
      if (!Array.isArray(ids) || !ids.every((x) => typeof x === 'string')) return send(res, 400, { error: 'containerIds: want an array of container IDs' });
      if (body.code !== undefined && (!Number.isInteger(body.code) || (body.code as number) < 0 || (body.code as number) > 255))
        return send(res, 400, { error: 'code: want an exit code 0..255' });
      if (body.oom !== undefined && typeof body.oom !== 'boolean') return send(res, 400, { error: 'oom: want true or false' });
      const out = { crashed: 0, notRunning: 0, unknown: 0 };
      for (const id of ids) {
        try {
          if (sim.crashContainer(id, { ...(body.code !== undefined ? { code: body.code as number } : {}), oom: body.oom === true })) out.crashed++;
          else out.notRunning++;
        } catch {
          out.unknown++;
        }
      }
      log.info(out, 'containers crashed on request');
      return send(res, 200, out);
    }
    if (path === '/node') {
      if (method === 'GET') return send(res, 200, { ...sim.nodeFigures, effective: sim.effectiveNodeFigures() });
      if (method !== 'PATCH') return send(res, 405, { error: `${method} ${path}: use GET or PATCH` });
      const body = await jsonBody(req, res);
      if (body === undefined) return;
      try {
        const figures = sim.setNodeFigures(body);
        log.info({ figures }, 'node figures set');
        return send(res, 200, figures);
      } catch (err) {
        return send(res, 400, { error: err instanceof Error ? err.message : String(err) });
      }
    }
    if (path === '/usage') {
      if (method === 'GET') return send(res, 200, sim.podUsage());
      if (method !== 'PUT') return send(res, 405, { error: `${method} ${path}: use GET or PUT` });
      const body = await jsonBody(req, res);
      if (body === undefined) return;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return send(res, 400, { error: 'want an object of pod UID -> usage (or null)' });
      const parsed: [string, PodUsageOverride | undefined][] = [];
      try {
        for (const [uid, v] of Object.entries(body)) parsed.push([uid, v === null ? undefined : parsePodUsageOverride(v, uid)]);
      } catch (err) {
        return send(res, 400, { error: err instanceof Error ? err.message : String(err) });
      }
      for (const [uid, v] of parsed) sim.setPodUsage(uid, v);
      log.info({ pods: parsed.length }, 'pod usage set');
      return send(res, 200, sim.podUsage());
    }
    return send(res, 404, { error: `no such resource ${path}; try /faults, /latency, /stats, /crash, /node or /usage` });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof BadRequestError ? err.status : 500;
      if (status === 500) log.error({ err: err instanceof Error ? err.message : String(err) }, 'control request failed');
      try {
        send(res, status, { error: err instanceof Error ? err.message : String(err) });
      } catch {
        res.destroy();
      }
    });
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  log.info('sim control API listening');
  return {
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          rmSync(socketPath, { force: true });
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
