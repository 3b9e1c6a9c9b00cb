// The other probe handlers against real things: tcpSocket against a listening and a closed port
// on loopback, grpc against a real grpc-js health server (SERVING, NOT_SERVING, a per-service
// answer, no health service, nothing listening), exec through CRI ExecSync on the simulated
// runtime (exit codes, combined output, the timeout), and runProbe's dispatch by handler.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { tcpSocketAction } from '../../src/probes/tcp-socket.js';
import { grpcHealthAction, healthServiceDefinition, type ServingStatus } from '../../src/probes/grpc-health.js';
import { execProbe, runProbe } from '../../src/probes/run-probe.js';
import { goDuration } from '../../src/probes/go-duration.js';
import { probeHandler, probeTiming } from '../../src/probes/spec.js';
import { simHarness, type SimHarness } from '../sim/sim-fixtures.js';

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('tcpSocket', () => {
  let server: net.Server;
  let port = 0;
  before(async () => {
    server = net.createServer((sock) => sock.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
  });

  it('connects: success', async () => {
    assert.deepEqual(await tcpSocketAction('127.0.0.1', port, 1000), { result: 'success', message: '' });
  });

  it('refused: failure with the Go dial error', async () => {
    const p = await closedPort();
    assert.deepEqual(await tcpSocketAction('127.0.0.1', p, 1000), { result: 'failure', message: `dial tcp 127.0.0.1:${p}: connect: connection refused` });
  });
});

describe('grpc health', () => {
  let server: grpc.Server;
  let port = 0;
  let bare: grpc.Server;
  let barePort = 0;
  let userAgent = '';
  const statuses = new Map<string, ServingStatus>([
    ['', 'SERVING'],
    ['db', 'NOT_SERVING'],
  ]);
  before(async () => {
    server = new grpc.Server();
    server.addService(healthServiceDefinition, {
      Check: (call: grpc.ServerUnaryCall<{ service: string }, { status: ServingStatus }>, cb: grpc.sendUnaryData<{ status: ServingStatus }>) => {
        userAgent = String(call.metadata.get('user-agent')[0] ?? '');
        const s = statuses.get(call.request.service);
        if (!s) cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        else cb(null, { status: s });
      },
    });
    port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    bare = new grpc.Server();
    barePort = await new Promise<number>((res, rej) => bare.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  });
  after(() => {
    server.forceShutdown();
    bare.forceShutdown();
  });

  it('SERVING is success, with the kube-probe User-Agent', async () => {
    assert.deepEqual(await grpcHealthAction('127.0.0.1', port, '', 1000, { version: '1.30.0' }), { result: 'success', message: 'service healthy' });
    assert.match(userAgent, /^kube-probe\/1\.30/);
  });

  it('NOT_SERVING for a named service is failure', async () => {
    assert.deepEqual(await grpcHealthAction('127.0.0.1', port, 'db', 1000), { result: 'failure', message: 'service unhealthy (responded with "NOT_SERVING")' });
  });

  it('an RPC error is failure with the status', async () => {
    assert.deepEqual(await grpcHealthAction('127.0.0.1', port, 'nope', 1000), {
      result: 'failure',
      message: 'error: health rpc probe failed: rpc error: code = NotFound desc = unknown service',
    });
  });

  it('a server without the health service', async () => {
    const r = await grpcHealthAction('127.0.0.1', barePort, '', 1000);
    assert.equal(r.result, 'failure');
    assert.match(r.message, /^this server does not implement the grpc health protocol \(grpc\.health\.v1\.Health\): /);
  });

  it('nothing listening: connect timeout', async () => {
    const p = await closedPort();
    const t0 = Date.now();
    const r = await grpcHealthAction('127.0.0.1', p, '', 300);
    assert.ok(Date.now() - t0 < 2000);
    assert.deepEqual(r, { result: 'failure', message: `timeout: failed to connect service "127.0.0.1:${p}" within 300ms: context deadline exceeded` });
  });
});

describe('exec through CRI ExecSync (simulated runtime)', () => {
  let h: SimHarness;
  before(async () => {
    h = await simHarness();
  });
  after(async () => {
    await h.close();
  });

  it('exit 0 is success with the output; non-zero is failure with stdout then stderr', async () => {
    const { id } = await h.container(['sh', '-c', 'touch /tmp/healthy; sleep 600']);
    assert.deepEqual(await execProbe(h.cri, id, ['cat', '/tmp/healthy'], 1000), { result: 'success', message: '' });
    assert.deepEqual(await execProbe(h.cri, id, ['sh', '-c', 'echo out; echo err >&2; exit 3'], 1000), { result: 'failure', message: 'out\nerr\n' });
    const gone = await execProbe(h.cri, id, ['cat', '/tmp/nothing'], 1000);
    assert.equal(gone.result, 'failure');
    assert.match(gone.message, /No such file or directory/);
  });

  it('a command longer than the timeout fails as timed out', async () => {
    const { id } = await h.container(['sleep', 'infinity']);
    const p = execProbe(h.cri, id, ['sleep', '5'], 1000);
    await h.advance(1000);
    assert.deepEqual(await p, { result: 'failure', message: 'command "sleep 5" timed out' });
  });

  it('a container that is gone is an error (unknown), not a failure', async () => {
    const r = await execProbe(h.cri, 'no-such-container', ['true'], 1000);
    assert.equal(r.result, 'unknown');
  });

  it('runProbe dispatches by handler; an unresolvable port name is an error', async () => {
    const { id } = await h.container(['sleep', 'infinity']);
    assert.equal((await runProbe({ type: 'exec', command: ['true'] }, id, 1000, { cri: h.cri })).result, 'success');
    const c = { name: 'web', ports: [{ name: 'http', containerPort: 8080 }] };
    assert.deepEqual(probeHandler({ httpGet: { port: 'http', path: '/healthz' } }, c, '10.88.0.5'), {
      type: 'httpGet',
      host: '10.88.0.5',
      port: 8080,
      path: '/healthz',
      scheme: 'HTTP',
      headers: [],
    });
    const bad = probeHandler({ tcpSocket: { port: 'metrics' } }, c, '10.88.0.5');
    assert.deepEqual(bad, { type: 'invalid', message: "couldn't find port metrics in web" });
    assert.equal((await runProbe(bad, id, 1000, {})).result, 'unknown');
  });
});

describe('probe spec defaults and Go durations', () => {
  it('upstream defaults: period 10 s, timeout 1 s, success 1, failure 3, delay 0', () => {
    assert.deepEqual(probeTiming({ exec: { command: ['true'] } }), {
      initialDelayMs: 0,
      periodMs: 10_000,
      timeoutMs: 1000,
      successThreshold: 1,
      failureThreshold: 3,
    });
    assert.deepEqual(
      probeTiming({ exec: { command: ['true'] }, periodSeconds: 2, timeoutSeconds: 3, initialDelaySeconds: 4, successThreshold: 1, failureThreshold: 5 }),
      {
        initialDelayMs: 4000,
        periodMs: 2000,
        timeoutMs: 3000,
        successThreshold: 1,
        failureThreshold: 5,
      },
    );
  });
  it('Go duration strings', () => {
    assert.deepEqual([goDuration(300), goDuration(1000), goDuration(2500), goDuration(90_000)], ['300ms', '1s', '2.5s', '1m30s']);
  });
});
