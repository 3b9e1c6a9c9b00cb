// The plain-HTTP path of httpGetAction (a raw socket and a small response parser) against
// node:http as the oracle: crafted responses from a raw TCP server (chunked, 1xx, no length,
// split writes, early close, bad heads) must give what a node:http GET with a keep-alive-less
// agent gives (status, body up to 10 KiB, Location), and errors the same Go-like messages; the
// request bytes must be the ones node:http writes for the same headers.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { httpGetAction, MAX_BODY_BYTES } from '../../src/probes/http-get.js';

/** Responses by path: each a list of raw writes (a write of '' means "end here"). */
const RESPONSES: Record<string, (string | Buffer)[]> = {
  '/len': ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'],
  '/split': ['HTT', 'P/1.1 200 OK\r\nConte', 'nt-Length: 11\r\n\r\nhello', ' world'],
  '/chunked': ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', '6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n'],
  '/chunked-split': ['HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n', '3', '\r\nab', 'c\r', '\n0\r\n', '\r\n'],
  '/eof': ['HTTP/1.1 200 OK\r\n\r\nuntil close', ''],
  '/http10': ['HTTP/1.0 200 OK\r\n\r\nold', ''],
  '/continue': ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'],
  '/early-hints': ['HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'],
  '/no-content': ['HTTP/1.1 204 No Content\r\n\r\n'],
  '/redirect-other': ['HTTP/1.1 302 Found\r\nLocation: http://elsewhere.test/x\r\nLocation: http://second.test/\r\nContent-Length: 4\r\n\r\nmove'],
  '/big-len': [`HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n${'y'.repeat(20000)}`],
  '/big-chunked': ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', `3000\r\n${'z'.repeat(0x3000)}\r\n0\r\n\r\n`],
  '/utf8': [Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n'), Buffer.from('héllo', 'utf8')])],
  '/status-500': ['HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nbad'],
  '/reason-less': ['HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok'],
  '/hangup': [''],
  '/aborted': ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', ''],
  '/aborted-chunked': ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab', ''],
};

let server: net.Server;
let port = 0;
let lastRequest = '';
const open = new Set<net.Socket>();

async function nodeHttp(
  path: string,
  headers: Record<string, string>,
): Promise<{ statusCode: number; body: string; location: string | undefined } | { code: string | undefined }> {
  const agent = new http.Agent({ keepAlive: false });
  return new Promise((resolve) => {
    const req = http.request(`http://127.0.0.1:${port}${path}`, { method: 'GET', headers, agent }, (res) => {
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
        if (size >= MAX_BODY_BYTES) finish();
      });
      res.on('end', finish);
      res.on('error', (err: NodeJS.ErrnoException) => {
        if (!done) resolve({ code: err.code });
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ code: err.code }));
    req.end();
  });
}

describe('httpGetAction on a raw socket, against node:http', () => {
  before(async () => {
    server = net.createServer((socket) => {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      let got = '';
      socket.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (!got.includes('\r\n\r\n')) return;
        lastRequest = got;
        const path = /^GET (\S+) /.exec(got)?.[1] ?? '';
        const writes = RESPONSES[path] ?? ['HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'];
        void (async () => {
          for (const w of writes) {
            if (w === '') {
              socket.end();
              return;
            }
            socket.write(w);
            await new Promise((r) => setTimeout(r, 5));
          }
          socket.end();
        })();
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    for (const s of open) s.destroy();
    await new Promise((r) => server.close(r));
  });

  for (const path of Object.keys(RESPONSES)) {
    it(`${path}: as node:http`, async () => {
      const oracle = await nodeHttp(path, { 'User-Agent': 'kube-probe/1.30', Accept: '*/*' });
      const r = await httpGetAction({ host: '127.0.0.1', port, path }, 2000, { version: '1.30.0' });
      if ('code' in oracle) {
        assert.equal(r.result, 'failure');
        assert.equal(oracle.code, 'ECONNRESET');
        assert.equal(r.message, `Get "http://127.0.0.1:${port}${path}": read tcp 127.0.0.1:${port}: read: connection reset by peer`);
        return;
      }
      assert.equal(r.statusCode, oracle.statusCode);
      const code = oracle.statusCode;
      if (code >= 200 && code < 300) assert.equal(r.message, oracle.body);
      else if (code >= 300 && code < 400) assert.equal(r.message, `Probe terminated redirects, Response body: ${oracle.body}`);
      else assert.equal(r.message, `HTTP probe failed with statuscode: ${code}`);
    });
  }

  it('writes the request node:http writes for the same headers', async () => {
    const headers = [
      { name: 'x-a', value: '1' },
      { name: 'X-B', value: 'b' },
      { name: 'X-A', value: '2' },
      { name: 'X-Latin', value: 'vé' },
    ];
    await httpGetAction({ host: '127.0.0.1', port, path: '/len?q=1', headers }, 2000, { version: '1.30.0' });
    const ours = lastRequest;
    // The headers object node:http was given before (the spec's names as written, then ours).
    await nodeHttp('/len?q=1', { 'x-a': '1', 'X-B': 'b', 'X-A': '2', 'X-Latin': 'vé', 'User-Agent': 'kube-probe/1.30', Accept: '*/*' });
    assert.equal(ours, lastRequest);
    assert.match(
      ours,
      /^GET \/len\?q=1 HTTP\/1\.1\r\nX-A: 2\r\nX-B: b\r\nX-Latin: v\xe9\r\nUser-Agent: kube-probe\/1\.30\r\nAccept: \*\/\*\r\nHost: 127\.0\.0\.1:\d+\r\nConnection: close\r\n\r\n$/,
    );
  });

  it('an empty Host header sends the URL host, as node:http does', async () => {
    await httpGetAction({ host: '127.0.0.1', port, path: '/len', headers: [{ name: 'Host', value: '' }] }, 2000);
    assert.match(lastRequest, new RegExp(`\r\nHost: 127\\.0\\.0\\.1:${port}\r\n`));
  });

  it('bad header names and values fail with node:http messages, nothing sent', async () => {
    const r1 = await httpGetAction({ host: '127.0.0.1', port, path: '/len', headers: [{ name: 'X Bad', value: 'v' }] }, 2000);
    assert.deepEqual(r1, { result: 'failure', message: `Get "http://127.0.0.1:${port}/len": Header name must be a valid HTTP token ["X Bad"]` });
    const r2 = await httpGetAction({ host: '127.0.0.1', port, path: '/len', headers: [{ name: 'X-A', value: 'a\r\nInjected: 1' }] }, 2000);
    assert.deepEqual(r2, { result: 'failure', message: `Get "http://127.0.0.1:${port}/len": Invalid character in header content ["X-A"]` });
  });

  it('a response that is not HTTP fails with a parse error', async () => {
    const s = net.createServer((socket) => socket.resume().end('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const p = (s.address() as AddressInfo).port;
    try {
      const r = await httpGetAction({ host: '127.0.0.1', port: p, path: '/' }, 2000);
      assert.equal(r.result, 'failure');
      assert.match(r.message, /^Get "http:\/\/127\.0\.0\.1:\d+\/": Parse Error: /);
    } finally {
      await new Promise((r) => s.close(r));
    }
  });
});
