// Fuzz (issue 16): random requests to every endpoint of a live node (a kubelet-ts child process
// on its embedded sim), authenticated and not, plus random bytes on raw TLS and plain sockets.
// What must hold: the process never exits; an authenticated request never gets a 5xx other than
// 501 (a feature this runtime lacks); an unauthenticated one never gets past authentication
// (401, or 4xx for a request too malformed to route); the healthz port serves only /healthz;
// garbage bytes get a 4xx or a closed connection; the sentinel pod is untouched.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import fc from 'fast-check';
import { FUZZ_SEED, request, runs, type FuzzRequest } from './arbitraries.js';
import { startHostileNode, type HostileNode } from '../helpers/hostile-node.js';

interface Answer {
  status: number;
  body: string;
}

function send(node: HostileNode, r: FuzzRequest, o: { authenticated: boolean; healthz?: boolean }): Promise<Answer> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { ...r.headers };
    if (r.body !== undefined) headers['content-length'] = Buffer.byteLength(r.body);
    const common = { host: '127.0.0.1', method: r.method, path: r.path, headers, agent: false as const, timeout: 5000 };
    const req = o.healthz
      ? httpRequest({ ...common, port: node.healthzPort })
      : httpsRequest({ ...common, port: node.port, ca: node.pki.ca, servername: 'localhost', ...(o.authenticated ? node.pki.admin : {}) });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < 2000) body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => {
      req.destroy();
      resolve({ status: -1, body: 'no answer within 5 s' });
    });
    // The client refused to send it (a path with characters Node will not put on the wire): no case.
    req.on('error', (err) => resolve({ status: (err as NodeJS.ErrnoException).code === 'ERR_UNESCAPED_CHARACTERS' ? -2 : 0, body: err.message }));
    req.end(r.body);
  });
}

/** Raw bytes to a port; resolves with what came back (or '' when the server closed). */
function raw(port: number, bytes: Uint8Array, tls: { ca: string } | undefined): Promise<string> {
  return new Promise((resolve) => {
    const sock = tls ? tlsConnect({ host: '127.0.0.1', port, ca: tls.ca, servername: 'localhost' }) : netConnect({ host: '127.0.0.1', port });
    let got = '';
    const done = (): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, 3000);
    sock.on(tls ? 'secureConnect' : 'connect', () => sock.write(bytes));
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) done();
    });
    sock.on('error', done);
    sock.on('close', done);
  });
}

describe('fuzz: random requests to every endpoint', () => {
  let node: HostileNode;
  let sentinel: Awaited<ReturnType<HostileNode['waitSentinelRunning']>>;

  before(async () => {
    node = await startHostileNode({ nodeName: 'hostile' });
    sentinel = await node.waitSentinelRunning();
  });

  after(async () => {
    await node?.stop();
  });

  const alive = (what: string): void => {
    assert.equal(node.exited(), undefined, `the kubelet exited after ${what} (seed ${FUZZ_SEED}):\n${node.logTail()}`);
  };

  it(`authenticated requests: never a 5xx but 501, never a hang (seed ${FUZZ_SEED})`, async () => {
    const cases = fc.sample(request(), { numRuns: runs(150, 1500), seed: FUZZ_SEED });
    const statuses = new Map<number, number>();
    for (const r of cases) {
      const a = await send(node, r, { authenticated: true });
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      if (a.status === -2) continue;
      assert.ok(
        a.status >= 200 && (a.status < 500 || a.status === 501),
        `${r.method} ${r.path} answered ${a.status}: ${a.body.slice(0, 300)}\n${node.logTail(10)}`,
      );
      alive(`${r.method} ${r.path}`);
    }
    process.stdout.write(`# fuzz requests (authenticated): ${cases.length} cases, statuses ${JSON.stringify([...statuses].sort((x, y) => x[0] - y[0]))}\n`);
    assert.deepEqual(await node.sentinel(), sentinel);
  });

  it(`unauthenticated requests never get past authentication (seed ${FUZZ_SEED})`, async () => {
    const cases = fc.sample(request(), { numRuns: runs(100, 1000), seed: FUZZ_SEED + 1 });
    for (const r of cases) {
      const a = await send(node, r, { authenticated: false });
      if (a.status === -2) continue;
      assert.ok(
        a.status === 401 || (a.status >= 400 && a.status < 500 && a.status !== 403 && a.status !== 404),
        `unauthenticated ${r.method} ${r.path} answered ${a.status}: ${a.body.slice(0, 300)}`,
      );
    }
    alive('unauthenticated requests');
  });

  it(`the healthz port serves /healthz and nothing else (seed ${FUZZ_SEED})`, async () => {
    const cases = fc.sample(request(), { numRuns: runs(100, 1000), seed: FUZZ_SEED + 2 });
    for (const r of cases) {
      const a = await send(node, r, { authenticated: false, healthz: true });
      if (a.status === -2) continue;
      const path = r.path.split('?')[0] ?? '';
      if (a.status === 200) assert.ok(path === '/healthz' || path.startsWith('/healthz/'), `healthz port answered 200 to ${r.method} ${r.path}`);
      else assert.ok(a.status >= 400 && a.status < 500, `healthz port: ${r.method} ${r.path} answered ${a.status}: ${a.body.slice(0, 200)}`);
    }
    alive('healthz requests');
  });

  it(`random bytes on the TLS and the plain port get a 4xx or a closed connection (seed ${FUZZ_SEED})`, async () => {
    const junk = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc
        .tuple(
          fc.constantFrom('GET', 'POST', 'XYZ', ''),
          fc.string({ unit: 'binary', maxLength: 40 }),
          fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/9', ''),
          fc.array(fc.string({ unit: 'binary', maxLength: 30 }), { maxLength: 4 }),
        )
        .map(([m, p, v, hs]) => new TextEncoder().encode(`${m} ${p} ${v}\r\n${hs.join('\r\n')}\r\n\r\n`)),
    );
    const cases = fc.sample(junk, { numRuns: runs(60, 400), seed: FUZZ_SEED + 3 });
    for (const [i, bytes] of cases.entries()) {
      const got = await raw(i % 2 === 0 ? node.port : node.healthzPort, bytes, i % 2 === 0 ? { ca: node.pki.ca } : undefined);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(got)?.[1];
      if (status) assert.ok(Number(status) < 500, `garbage answered ${status}: ${JSON.stringify(Buffer.from(bytes).toString('latin1')).slice(0, 200)}`);
      alive(`garbage bytes #${i}`);
    }
    const h = await fetch(`http://127.0.0.1:${node.healthzPort}/healthz`).then(
      (r) => r.status,
      () => 0,
    );
    assert.equal(h, 200);
    assert.deepEqual(await node.sentinel(), sentinel);
  });
});
