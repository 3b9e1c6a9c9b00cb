// The stream proxy, against a stand-in for the runtime's streaming server (a TCP server on port
// 0 that answers 101 and echoes): the kubelet resolves the container or sandbox, asks for the
// URL with the CRI request built from the query, forwards the client's method and upgrade
// headers (repeated X-Stream-Protocol-Version kept, credentials dropped) to the URL's path, then
// pipes bytes both ways untouched. Bad options, unknown pods, runtime refusals and an
// unreachable runtime get clear answers; closing the server closes open streams.
import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { startKubeletServer, type KubeletServer } from '../../src/server/kubelet-server.js';
import type { StreamRequest } from '../../src/server/streaming.js';
import { CriNotFoundError } from '../../src/native/cri/errors.js';
import { freePort } from '../helpers/net.js';
import { makePki, minimalBackend, readUntil, upgradeRequest, type Pki } from './fixtures.js';

describe('stream proxy to the runtime', () => {
  let pki: Pki;
  let server: KubeletServer;
  let runtime: Server;
  let runtimePort: number;
  const heads: string[] = [];
  const runtimeSockets = new Set<Socket>();
  const asked: StreamRequest[] = [];
  let nextUrl: () => Promise<string>;

  before(async () => {
    pki = await makePki();
    runtime = createServer((s) => {
      runtimeSockets.add(s);
      s.on('close', () => runtimeSockets.delete(s));
      let buf = Buffer.alloc(0);
      let upgraded = false;
      s.on('data', (d: Buffer) => {
        if (upgraded) {
          s.write(Buffer.concat([Buffer.from('echo:'), d]));
          return;
        }
        buf = Buffer.concat([buf, d]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        upgraded = true;
        heads.push(buf.subarray(0, end).toString('latin1'));
        s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n');
        const early = buf.subarray(end + 4);
        if (early.length > 0) s.write(Buffer.concat([Buffer.from('echo:'), early]));
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => runtime.listen(0, '127.0.0.1', () => r()));
    runtimePort = (runtime.address() as AddressInfo).port;
    server = await startKubeletServer({
      backend: minimalBackend({
        resolveContainer: (ns, pod, uid, container) =>
          Promise.resolve(
            ns === 'default' && pod === 'web' && container === 'app' && (uid === undefined || uid === 'uid-1')
              ? { id: 'c0ffee' }
              : { error: `container "${container}" of pod ${ns}/${pod} not found`, status: 404 },
          ),
        resolveSandbox: (ns, pod) =>
          Promise.resolve(ns === 'default' && pod === 'web' ? { id: '5and60x' } : { error: `pod ${ns}/${pod} not found`, status: 404 }),
        streamUrl: (r) => {
          asked.push(r);
          return nextUrl();
        },
      }),
      address: '127.0.0.1',
      port: 0,
      tls: { ...pki.serving, clientCA: pki.ca },
      anonymous: false,
      authorizer: { authorize: () => Promise.resolve({ allowed: true }) },
    });
  });

  after(async () => {
    await server.close();
    for (const s of runtimeSockets) s.destroy();
    await new Promise<void>((r) => runtime.close(() => r()));
    pki.close();
  });

  beforeEach(() => {
    heads.length = 0;
    asked.length = 0;
    nextUrl = () => Promise.resolve(`http://127.0.0.1:${runtimePort}/exec/TOKEN-1`);
  });

  const body = async (u: Awaited<ReturnType<typeof upgradeRequest>>): Promise<string> => (await readUntil(u.socket, u.rest, () => false)).toString();

  it('forwards the upgrade request to the runtime URL and pipes bytes both ways', async () => {
    const u = await upgradeRequest(server.port, '/exec/default/web/app?command=echo&command=hello&output=1&error=1', {
      ca: pki.ca,
      who: pki.admin,
      headers: [
        ['Connection', 'Upgrade'],
        ['Upgrade', 'SPDY/3.1'],
        ['X-Stream-Protocol-Version', 'v4.channel.k8s.io'],
        ['X-Stream-Protocol-Version', 'v3.channel.k8s.io'],
        ['Authorization', 'Bearer secret-token'],
      ],
    });
    assert.equal(u.status, 101);
    assert.match(u.head, /X-Stream-Protocol-Version: v4\.channel\.k8s\.io/);
    assert.deepEqual(asked, [{ kind: 'exec', containerId: 'c0ffee', cmd: ['echo', 'hello'], tty: false, stdin: false, stdout: true, stderr: true }]);
    const lines = heads[0]?.split('\r\n') ?? [];
    assert.equal(lines[0], 'POST /exec/TOKEN-1 HTTP/1.1');
    assert.ok(lines.includes(`Host: 127.0.0.1:${runtimePort}`), lines.join(' | '));
    assert.ok(lines.includes('Connection: Upgrade'));
    assert.ok(lines.includes('Upgrade: SPDY/3.1'));
    assert.deepEqual(
      lines.filter((l) => l.startsWith('X-Stream-Protocol-Version')),
      ['X-Stream-Protocol-Version: v4.channel.k8s.io', 'X-Stream-Protocol-Version: v3.channel.k8s.io'],
    );
    assert.ok(lines.includes('X-Forwarded-For: 127.0.0.1'));
    assert.ok(!lines.some((l) => /^authorization:/i.test(l)), "the client's credentials stay with the kubelet");
    const binary = Buffer.from([0x80, 0x03, 0x00, 0x01, 0xff, 0x00, 0x0d, 0x0a]);
    u.socket.write(binary);
    const echoed = await readUntil(u.socket, u.rest, (b) => b.length >= 5 + binary.length);
    assert.deepEqual(echoed, Buffer.concat([Buffer.from('echo:'), binary]), 'bytes pass untouched');
    u.socket.destroy();
  });

  it('builds attach and port-forward requests from the path and query', async () => {
    nextUrl = () => Promise.resolve(`http://127.0.0.1:${runtimePort}/attach/T2`);
    const a = await upgradeRequest(server.port, '/attach/default/web/uid-1/app?input=1&output=1&error=1&tty=1', { ca: pki.ca, who: pki.admin, method: 'GET' });
    assert.equal(a.status, 101);
    a.socket.destroy();
    nextUrl = () => Promise.resolve(`http://127.0.0.1:${runtimePort}/portforward/T3`);
    const p = await upgradeRequest(server.port, '/portForward/default/web/uid-1?port=8080,9090&port=22', {
      ca: pki.ca,
      who: pki.admin,
      method: 'GET',
      headers: [
        ['Connection', 'Upgrade'],
        ['Upgrade', 'websocket'],
        ['Sec-WebSocket-Protocol', 'v4.channel.k8s.io'],
        ['Sec-WebSocket-Version', '13'],
        ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
      ],
    });
    assert.equal(p.status, 101);
    p.socket.destroy();
    assert.deepEqual(asked, [
      { kind: 'attach', containerId: 'c0ffee', tty: true, stdin: true, stdout: true, stderr: false },
      { kind: 'portForward', podSandboxId: '5and60x', port: [8080, 9090, 22] },
    ]);
    assert.equal(heads[0]?.split('\r\n')[0], 'GET /attach/T2 HTTP/1.1');
    const pf = heads[1]?.split('\r\n') ?? [];
    assert.equal(pf[0], 'GET /portforward/T3 HTTP/1.1');
    assert.ok(
      pf.includes('Sec-WebSocket-Protocol: v4.channel.k8s.io') &&
        pf.includes('Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==') &&
        pf.includes('Upgrade: websocket'),
    );
  });

  it('answers bad options and unknown pods before asking the runtime', async () => {
    const none = await upgradeRequest(server.port, '/exec/default/web/app?command=ls', { ca: pki.ca, who: pki.admin });
    assert.equal(none.status, 400);
    assert.match(await body(none), /you must specify at least 1 of stdin, stdout, stderr/);
    const noCmd = await upgradeRequest(server.port, '/exec/default/web/app?output=1', { ca: pki.ca, who: pki.admin });
    assert.equal(noCmd.status, 400);
    assert.match(await body(noCmd), /exec needs a command/);
    const badPath = await upgradeRequest(server.port, '/exec/default/web?output=1&command=ls', { ca: pki.ca, who: pki.admin });
    assert.equal(badPath.status, 400);
    assert.match(await body(badPath), /path must be \/exec\/\{namespace\}\/\{pod\}\[\/\{uid\}\]\/\{container\}/);
    const badPort = await upgradeRequest(server.port, '/portForward/default/web?port=0', { ca: pki.ca, who: pki.admin });
    assert.equal(badPort.status, 400);
    const gone = await upgradeRequest(server.port, '/exec/default/web/sidecar?output=1&command=ls', { ca: pki.ca, who: pki.admin });
    assert.equal(gone.status, 404);
    assert.match(await body(gone), /container "sidecar" of pod default\/web not found/);
    const wrongUid = await upgradeRequest(server.port, '/exec/default/web/uid-2/app?output=1&command=ls', { ca: pki.ca, who: pki.admin });
    assert.equal(wrongUid.status, 404);
    assert.equal(asked.length, 0);
  });

  it("answers the runtime's refusal by its code, and 500 when the runtime cannot be reached", async () => {
    nextUrl = () => Promise.reject(new CriNotFoundError('container "c0ffee" not found', { operation: 'exec' }));
    const nf = await upgradeRequest(server.port, '/exec/default/web/app?output=1&command=ls', { ca: pki.ca, who: pki.admin });
    assert.equal(nf.status, 404);
    const closedPort = await freePort();
    nextUrl = () => Promise.resolve(`http://127.0.0.1:${closedPort}/exec/T`);
    const down = await upgradeRequest(server.port, '/exec/default/web/app?output=1&command=ls', { ca: pki.ca, who: pki.admin });
    assert.equal(down.status, 500);
    assert.match(await body(down), /Error while proxying request: cannot reach the runtime's streaming server/);
  });

  it('closes open streams when the server closes', async () => {
    const other = await startKubeletServer({
      backend: minimalBackend({
        resolveContainer: () => Promise.resolve({ id: 'c' }),
        streamUrl: () => Promise.resolve(`http://127.0.0.1:${runtimePort}/exec/T`),
      }),
      address: '127.0.0.1',
      port: 0,
      tls: { ...pki.serving, clientCA: pki.ca },
      anonymous: false,
      authorizer: { authorize: () => Promise.resolve({ allowed: true }) },
    });
    const u = await upgradeRequest(other.port, '/exec/default/web/app?output=1&command=ls', { ca: pki.ca, who: pki.admin });
    assert.equal(u.status, 101);
    const ended = new Promise<void>((r) => u.socket.once('close', () => r()));
    await other.close();
    await ended;
  });
});
