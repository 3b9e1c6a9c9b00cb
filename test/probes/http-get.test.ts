// httpGet checks against real servers on 127.0.0.1 port 0: status classes, headers as upstream
// sends them, same-host redirects followed, other-host redirects as a warning, the redirect
// limit, timeouts, refused connections, HTTPS without verification, the 10 KiB body limit.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { httpGetAction, probeUserAgent } from '../../src/probes/http-get.js';
import { ensureServingCert } from '../../src/native/certs.js';

let server: http.Server;
let port = 0;
let lastHeaders: http.IncomingHttpHeaders = {};
let hits = 0;

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  hits++;
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/ok') {
    lastHeaders = req.headers;
    res.end(`ok ${url.search}`);
  } else if (url.pathname === '/status') {
    res.statusCode = Number(url.searchParams.get('code'));
    res.end('body');
  } else if (url.pathname === '/same') {
    res.writeHead(302, { Location: '/ok' }).end();
  } else if (url.pathname === '/other') {
    // localhost vs 127.0.0.1: another hostname, same server.
    res.writeHead(301, { Location: `http://localhost:${port}/ok` }).end('moved');
  } else if (url.pathname === '/loop') {
    res.writeHead(302, { Location: '/loop' }).end();
  } else if (url.pathname === '/slow') {
    setTimeout(() => res.end('late'), 2000).unref();
  } else if (url.pathname === '/big') {
    res.end('x'.repeat(100_000));
  } else {
    res.statusCode = 404;
    res.end();
  }
}

describe('httpGetAction', () => {
  before(async () => {
    server = http.createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('2xx is success with the body; headers as upstream', async () => {
    const r = await httpGetAction({ host: '127.0.0.1', port, path: '/ok?a=1', headers: [{ name: 'X-Custom', value: 'v1' }] }, 1000, { version: '1.30.2' });
    assert.deepEqual(r, { result: 'success', message: 'ok ?a=1', statusCode: 200 });
    assert.equal(lastHeaders['user-agent'], 'kube-probe/1.30');
    assert.equal(lastHeaders.accept, '*/*');
    assert.equal(lastHeaders['x-custom'], 'v1');
    assert.equal(lastHeaders.connection, 'close');
    assert.equal(lastHeaders['accept-encoding'], undefined);
    assert.equal(lastHeaders.host, `127.0.0.1:${port}`);
  });

  it('spec headers replace User-Agent, Accept and Host', async () => {
    const r = await httpGetAction(
      {
        host: '127.0.0.1',
        port,
        path: '/ok',
        headers: [
          { name: 'User-Agent', value: 'mine' },
          { name: 'Accept', value: 'application/json' },
          { name: 'Host', value: 'example.test' },
        ],
      },
      1000,
    );
    assert.equal(r.result, 'success');
    assert.equal(lastHeaders['user-agent'], 'mine');
    assert.equal(lastHeaders.accept, 'application/json');
    assert.equal(lastHeaders.host, 'example.test');
  });

  it('the default User-Agent comes from the package version', () => {
    assert.match(probeUserAgent(), /^kube-probe\/\d+\.\d+$/);
    assert.equal(probeUserAgent('v1.20.2'), 'kube-probe/1.20');
  });

  it('399 succeeds as a warning, 400 and 500 fail with the upstream message', async () => {
    assert.deepEqual(await httpGetAction({ host: '127.0.0.1', port, path: '/status?code=201' }, 1000), { result: 'success', message: 'body', statusCode: 201 });
    assert.deepEqual(await httpGetAction({ host: '127.0.0.1', port, path: '/status?code=399' }, 1000), {
      result: 'warning',
      message: 'Probe terminated redirects, Response body: body',
      statusCode: 399,
    });
    assert.deepEqual(await httpGetAction({ host: '127.0.0.1', port, path: '/status?code=400' }, 1000), {
      result: 'failure',
      message: 'HTTP probe failed with statuscode: 400',
      statusCode: 400,
    });
    assert.deepEqual(await httpGetAction({ host: '127.0.0.1', port, path: '/status?code=503' }, 1000), {
      result: 'failure',
      message: 'HTTP probe failed with statuscode: 503',
      statusCode: 503,
    });
  });

  it('a same-host redirect is followed', async () => {
    const r = await httpGetAction({ host: '127.0.0.1', port, path: '/same' }, 1000);
    assert.deepEqual(r, { result: 'success', message: 'ok ', statusCode: 200 });
  });

  it('a redirect to another host is not followed: warning with the body', async () => {
    const before = hits;
    const r = await httpGetAction({ host: '127.0.0.1', port, path: '/other' }, 1000);
    assert.deepEqual(r, { result: 'warning', message: 'Probe terminated redirects, Response body: moved', statusCode: 301 });
    assert.equal(hits - before, 1);
  });

  it('more than 10 redirects fail', async () => {
    const r = await httpGetAction({ host: '127.0.0.1', port, path: '/loop' }, 2000);
    assert.deepEqual(r, { result: 'failure', message: `Get "http://127.0.0.1:${port}/loop": stopped after 10 redirects` });
  });

  it('a response slower than the timeout fails with the Go message', async () => {
    const t0 = Date.now();
    const r = await httpGetAction({ host: '127.0.0.1', port, path: '/slow' }, 200);
    assert.ok(Date.now() - t0 < 1500);
    assert.deepEqual(r, {
      result: 'failure',
      message: `Get "http://127.0.0.1:${port}/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
    });
  });

  it('a refused connection fails with the Go message', async () => {
    const s = http.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const closed = (s.address() as AddressInfo).port;
    await new Promise((r) => s.close(r));
    const r = await httpGetAction({ host: '127.0.0.1', port: closed, path: '/' }, 1000);
    assert.deepEqual(r, { result: 'failure', message: `Get "http://127.0.0.1:${closed}/": dial tcp 127.0.0.1:${closed}: connect: connection refused` });
  });

  it('reads at most 10 KiB of body', async () => {
    const r = await httpGetAction({ host: '127.0.0.1', port, path: '/big' }, 1000);
    assert.equal(r.result, 'success');
    assert.equal(r.message.length, 10 * 1024);
  });

  it('HTTPS without certificate verification', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kts-probe-tls-'));
    try {
      const { cert, key } = await ensureServingCert({ certDir: dir, nodeName: 'probe-test', hosts: ['127.0.0.1'] });
      const s = https.createServer({ cert, key }, (req, res) => res.end(`tls ${req.url ?? ''}`));
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      const p = (s.address() as AddressInfo).port;
      try {
        const r = await httpGetAction({ host: '127.0.0.1', port: p, path: '/x', scheme: 'HTTPS' }, 2000);
        assert.deepEqual(r, { result: 'success', message: 'tls /x', statusCode: 200 });
      } finally {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
