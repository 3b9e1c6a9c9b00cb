// The kubelet listeners under hostile requests (issue 16). Regressions:
//  - finding 1: `GET //[` on the healthz port killed the process (TypeError: Invalid URL thrown
//    from the request listener); on the main port it answered 500 before authentication, and
//    broken percent-encoding answered 500;
//  - finding 2: without a client CA, client certificates were verified against Node's default
//    trust store (and NODE_EXTRA_CA_CERTS), so any such certificate was a user;
//  - finding 8: connections that never finish their TLS handshake or their request head were
//    held for minutes (5,000 of them took the RSS from 155 to 765 MB); now the handshake and the
//    head have timeouts and each listener a connection limit. (Memory figures: bench/tls-flood.ts.)
// Plus the classic malformed requests on each port: the process serves on after each.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { createCa } from '../../src/native/certs.js';
import { readFileSync } from 'node:fs';
import { alwaysAllow, startKubeletServer, SERVER_LIMITS, type KubeletServer } from '../../src/server/kubelet-server.js';
import { stopChild } from '../../src/util/child-process.js';
import { call, makePki, minimalBackend, type Pki } from './fixtures.js';

interface RawOpts {
  tls?: { ca: string; cert?: string; key?: string };
  /** Send in pieces, this many ms apart (a slow client). */
  dripMs?: number;
  timeoutMs?: number;
}

/** Sends raw bytes; resolves with the status line's code (0 when the server closed without one) and the text. */
function raw(port: number, text: string | Buffer, o: RawOpts = {}): Promise<{ status: number; text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock: Socket | TLSSocket = o.tls
      ? tlsConnect({ host: '127.0.0.1', port, ca: o.tls.ca, servername: 'localhost', ...(o.tls.cert ? { cert: o.tls.cert, key: o.tls.key } : {}) })
      : netConnect({ host: '127.0.0.1', port });
    let got = '';
    let closed = false;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(got)?.[1] ?? 0), text: got, closed });
    };
    const timer = setTimeout(finish, o.timeoutMs ?? 5000);
    sock.on(o.tls ? 'secureConnect' : 'connect', () => {
      const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
      if (!o.dripMs) {
        sock.write(bytes);
        return;
      }
      let i = 0;
      const next = (): void => {
        if (settled || i >= bytes.length) return;
        sock.write(bytes.subarray(i, i + 1), () => undefined);
        i++;
        setTimeout(next, o.dripMs);
      };
      next();
    });
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (/\r\n\r\n/.test(got) && !o.dripMs) setTimeout(finish, 50);
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      closed = true;
      finish();
    });
  });
}

const MALFORMED: [string, string, number[]][] = [
  ['an unparseable target', 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n', [404]],
  ['a lone percent', 'GET /% HTTP/1.1\r\nHost: x\r\n\r\n', [400, 404]],
  ['an absolute-form target', 'GET http://evil.example/pods HTTP/1.1\r\nHost: x\r\n\r\n', [400]],
  ['an asterisk-form target', 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n', [400]],
  ['CONNECT', 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n', [405]],
  ['a NUL in the target', 'GET /pods\u0000x HTTP/1.1\r\nHost: x\r\n\r\n', [400]],
  ['a bad header name', 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n', [400]],
  ['duplicate Content-Length', 'POST /static-pods HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', [400]],
  [
    'Transfer-Encoding with Content-Length (smuggling)',
    'POST /static-pods HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n',
    [400],
  ],
  ['an invalid chunked body', 'POST /static-pods HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n', [400, 404]],
  ['a huge header', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(SERVER_LIMITS.maxHeaderBytes + 100)}\r\n\r\n`, [431]],
  ['no Host header in HTTP/1.1', 'GET /healthz HTTP/1.1\r\n\r\n', [400]],
  ['an unknown HTTP version', 'GET /healthz HTTP/7.0\r\nHost: x\r\n\r\n', [400, 505]],
  ['garbage', '\u0016\u0003\u0001garbage\r\n\r\n', [400]],
];

describe('hostile requests to the kubelet listeners', () => {
  let pki: Pki;
  let server: KubeletServer;
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => void uncaught.push(err);

  before(async () => {
    process.on('uncaughtException', onUncaught);
    pki = await makePki('kts-hostile-srv-');
    server = await startKubeletServer({
      backend: minimalBackend({ submit: { add: () => ({ accepted: [], errors: [] }), remove: () => false, list: () => [] } }),
      address: '127.0.0.1',
      port: 0,
      tls: { cert: pki.serving.cert, key: pki.serving.key, clientCA: pki.ca },
      anonymous: false,
      authorizer: alwaysAllow,
      healthz: { address: '127.0.0.1', port: 0 },
      limits: { handshakeTimeoutMs: 1000, headersTimeoutMs: 1500, requestTimeoutMs: 3000, timeoutCheckMs: 250, maxConnections: 40 },
    });
  });

  after(async () => {
    await server.close();
    pki.close();
    process.off('uncaughtException', onUncaught);
  });

  const servesOn = async (): Promise<void> => {
    assert.deepEqual(uncaught.map(String), [], 'an exception escaped the server');
    const h = await fetch(`http://127.0.0.1:${server.healthzPort ?? 0}/healthz`);
    assert.equal(h.status, 200);
    const p = await call(server.port, '/pods', { ca: pki.ca, who: pki.admin });
    assert.equal(p.status, 200);
  };

  it('the healthz port answers "GET //[" with a 4xx and lives (it killed the process)', async () => {
    const r = await raw(server.healthzPort ?? 0, 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n');
    // A path like any other now ("//[" is not a health check): 404.
    assert.equal(r.status, 404, r.text);
    for (const target of ['/%', '/healthz/%zz', '/[', '/\\\\x', '/%00']) {
      const t = await raw(server.healthzPort ?? 0, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.ok(t.status === 400 || t.status === 404, `${target}: ${t.text}`);
    }
    await servesOn();
  });

  it('the main port answers "//[" with 401 unauthenticated and 404 authenticated, never 500', async () => {
    const anon = await raw(server.port, 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n', { tls: { ca: pki.ca } });
    assert.equal(anon.status, 401, anon.text);
    const admin = await raw(server.port, 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n', { tls: { ca: pki.ca, ...pki.admin } });
    assert.equal(admin.status, 404, admin.text);
    await servesOn();
  });

  it('broken percent-encoding in any decoded segment is a 400 (was 500)', async () => {
    const tls = { ca: pki.ca, ...pki.admin };
    for (const [method, path] of [
      ['GET', '/containerLogs/%E0%A4%A/x/y'],
      ['GET', '/containerLogs/ns/%zz/c'],
      ['DELETE', '/static-pods/%E0%A4%A/x'],
    ]) {
      const r = await raw(server.port, `${method} ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, { tls });
      assert.equal(r.status, 400, `${method} ${path}: ${r.text}`);
      assert.match(r.text, /malformed percent-encoding/);
    }
    const up = await raw(server.port, 'GET /exec/%zz/p/c?command=ls&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n', { tls });
    assert.equal(up.status, 400, up.text);
    await servesOn();
  });

  for (const port of ['healthz', 'main'] as const) {
    it(`the classic malformed requests on the ${port} port get a 4xx, and it serves on`, async () => {
      for (const [what, text, statuses] of MALFORMED) {
        const r = await raw(port === 'main' ? server.port : (server.healthzPort ?? 0), text, port === 'main' ? { tls: { ca: pki.ca, ...pki.admin } } : {});
        assert.ok(statuses.includes(r.status), `${what}: answered ${r.status} (${JSON.stringify(r.text.slice(0, 120))}), expected ${statuses.join(' or ')}`);
      }
      await servesOn();
    });
  }

  it('HTTP/1.0 without Host is served', async () => {
    const r = await raw(server.healthzPort ?? 0, 'GET /healthz HTTP/1.0\r\n\r\n');
    assert.equal(r.status, 200, r.text);
  });

  it('a slow client (a head sent a byte at a time) is cut off at the header timeout', async () => {
    const r = await raw(server.healthzPort ?? 0, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`, { dripMs: 40, timeoutMs: 15_000 });
    assert.ok(r.closed, 'the server kept a slowloris connection');
    assert.ok(r.status === 408 || r.status === 0, r.text);
    await servesOn();
  });

  it('a TLS client that never finishes its handshake is dropped, and one that never sends its head too', async () => {
    const idle = await new Promise<boolean>((resolve) => {
      const s = netConnect({ host: '127.0.0.1', port: server.port });
      const t = setTimeout(() => {
        s.destroy();
        resolve(false);
      }, 15_000);
      s.on('close', () => {
        clearTimeout(t);
        resolve(true);
      });
      s.on('error', () => undefined);
    });
    assert.ok(idle, 'a connection that sent nothing was held for 15 s');
    const r = await raw(server.port, '', { tls: { ca: pki.ca, ...pki.admin }, timeoutMs: 15_000 });
    assert.ok(r.closed, 'a TLS connection that sent no request was held for 15 s');
    await servesOn();
  });

  it('each listener holds at most maxConnections; the excess is closed at once, and it serves again after', async () => {
    const held: Socket[] = [];
    let closedEarly = 0;
    await Promise.all(
      Array.from(
        { length: 60 },
        () =>
          new Promise<void>((resolve) => {
            const s = netConnect({ host: '127.0.0.1', port: server.healthzPort ?? 0 });
            held.push(s);
            s.on('error', () => undefined);
            s.on('close', () => closedEarly++);
            s.on('connect', () => setTimeout(resolve, 200));
          }),
      ),
    );
    assert.ok(closedEarly >= 20, `only ${closedEarly} of 60 connections were refused over a limit of 40`);
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 200));
    await servesOn();
  });
});

describe('x509 client authentication only with an explicit client CA (finding 2)', () => {
  let pki: Pki;
  let child: ChildProcess | undefined;

  before(async () => {
    pki = await makePki('kts-x509-');
  });
  after(async () => {
    if (child) await stopChild(child, 5000);
    pki.close();
  });

  const startChild = async (cfg: Record<string, unknown>, env: Record<string, string>): Promise<{ port: number; healthzPort: number }> => {
    child = spawn(process.execPath, [join(process.cwd(), 'dist/test/helpers/server-child.js')], {
      env: { ...process.env, ...env, KTS_SERVER_CHILD: JSON.stringify(cfg) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return new Promise((resolve, reject) => {
      let out = '';
      child?.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('{"port"'));
        if (line) resolve(JSON.parse(line) as { port: number; healthzPort: number });
      });
      child?.once('exit', (code) => reject(new Error(`server child exited ${String(code)}`)));
    });
  };

  it('a certificate that chains to NODE_EXTRA_CA_CERTS is no user when no client CA is set (it read /pods)', async () => {
    // A CA the kubelet was never told about, but the process trusts (NODE_EXTRA_CA_CERTS).
    const other = await createCa(join(pki.dir, 'other-ca'));
    const mallory = await other.issueClient('mallory', ['system:masters']);
    const port = (await startChild({ cert: pki.serving.cert, key: pki.serving.key }, { NODE_EXTRA_CA_CERTS: other.caFile })).port;
    const r = await call(port, '/pods', { ca: pki.ca, who: { cert: readFileSync(mallory.certFile, 'utf8'), key: readFileSync(mallory.keyFile, 'utf8') } });
    assert.equal(r.status, 401, r.body);
    assert.doesNotMatch(r.body, /secret-pod/);
    if (child) await stopChild(child, 5000);
    child = undefined;
  });

  it('with a client CA, a certificate from another CA is no user either', async () => {
    const other = await createCa(join(pki.dir, 'other-ca-2'));
    const eve = await other.issueClient('eve', ['system:masters']);
    writeFileSync(join(pki.dir, 'unused'), '');
    const port = (await startChild({ cert: pki.serving.cert, key: pki.serving.key, clientCA: pki.ca }, { NODE_EXTRA_CA_CERTS: other.caFile })).port;
    const refused = await call(port, '/pods', { ca: pki.ca, who: { cert: readFileSync(eve.certFile, 'utf8'), key: readFileSync(eve.keyFile, 'utf8') } });
    assert.equal(refused.status, 401);
    const allowed = await call(port, '/pods', { ca: pki.ca, who: pki.admin });
    assert.equal(allowed.status, 200);
  });
});
