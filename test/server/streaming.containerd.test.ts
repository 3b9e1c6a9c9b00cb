// exec, attach and port-forward through the kubelet server to a real containerd: a busybox pod
// run through the CRI client, the kubelet server with a backend that resolves that pod and asks
// containerd (CRI Exec / Attach / PortForward) for its streaming URL, and a WebSocket client
// (subprotocol v4.channel.k8s.io, client certificate) on the kubelet's paths. The kubelet only
// proxies: the channel framing checked here is containerd's.
//
// v4.channel.k8s.io: every message starts with its channel byte; exec and attach use 0 stdin,
// 1 stdout, 2 stderr, 3 the final status (a JSON metav1.Status); port-forward uses a data and an
// error channel per requested port (0 and 1 for the first), and the runtime first writes the
// port number (2 bytes, little-endian) on each. SPDY (what kubectl speaks through the API
// server) is checked up to containerd's 101 answer; its streams are the same bytes proxied.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import { connectCri, type CriClient } from '../../src/native/cri/index.js';
import { startKubeletServer, type KubeletServer } from '../../src/server/kubelet-server.js';
import { criStreamUrl } from '../../src/server/streaming.js';
import { startTestContainerd, type ContainerdFixture } from '../helpers/containerd-fixture.js';
import { containerConfig, newPod, sandboxConfig, waitFor, type PodRef } from '../helpers/cri-fixtures.js';
import { makePki, upgradeRequest, type Pki } from './fixtures.js';

interface Session {
  ws: WebSocket;
  /** Everything received, per channel, channel byte removed. */
  channels: Map<number, Buffer>;
  protocol: string;
  closed: Promise<void>;
}

describe('exec, attach and port-forward through the kubelet to containerd', () => {
  let fx: ContainerdFixture;
  let cri: CriClient;
  let pki: Pki;
  let server: KubeletServer;
  let logDir: string;
  let pod: PodRef;
  let sandboxId: string;
  const containers = new Map<string, string>();

  before(async () => {
    fx = await startTestContainerd();
    cri = connectCri(fx.containerd.endpoint, { runtimeRequestTimeoutMs: 60_000 });
    pki = await makePki();
    logDir = mkdtempSync(join(tmpdir(), 'kts-stream-logs-'));
    pod = newPod('stream');
    const config = sandboxConfig(pod, logDir);
    sandboxId = (await cri.RunPodSandbox({ config })).podSandboxId;
    const start = async (name: string, command: string[], stdin = false): Promise<void> => {
      const cc = { ...containerConfig(pod, name, fx.busybox, command), stdin, stdinOnce: false };
      const { containerId } = await cri.CreateContainer({ podSandboxId: sandboxId, config: cc, sandboxConfig: config });
      await cri.StartContainer({ containerId });
      containers.set(name, containerId);
    };
    await start('app', ['sh', '-c', 'nc -ll -p 8080 -e echo hi']);
    await start('echoer', ['sh', '-c', 'while read l; do echo "got $l"; done'], true);
    server = await startKubeletServer({
      backend: {
        nodeName: 'node-a',
        pods: () => [],
        runningPods: () => Promise.resolve([]),
        registry: new Registry(),
        configz: () => ({}),
        containerLog: () => Promise.resolve({ error: 'none', status: 404 }),
        healthChecks: [],
        resolveContainer: (ns, name, uid, container) => {
          const id = containers.get(container);
          if (ns !== pod.namespace || name !== pod.name || (uid !== undefined && uid !== pod.uid) || !id)
            return Promise.resolve({ error: `container "${container}" of pod ${ns}/${name} not found`, status: 404 });
          return Promise.resolve({ id });
        },
        resolveSandbox: (ns, name, uid) =>
          Promise.resolve(
            ns === pod.namespace && name === pod.name && (uid === undefined || uid === pod.uid)
              ? { id: sandboxId }
              : { error: `pod ${ns}/${name} not found`, status: 404 },
          ),
        streamUrl: (r) => criStreamUrl(cri, r),
      },
      address: '127.0.0.1',
      port: 0,
      tls: { ...pki.serving, clientCA: pki.ca },
      anonymous: false,
      authorizer: { authorize: (a) => Promise.resolve({ allowed: a.user.name === 'admin' && a.subresource === 'proxy' }) },
    });
    // The listener may take a moment after the container starts.
    await waitFor(
      'nc listening in the pod',
      async () => {
        const r = await cri.ExecSync({ containerId: containers.get('app') ?? '', cmd: ['sh', '-c', 'netstat -ln | grep -q :8080'], timeout: 5 });
        return r.exitCode === 0 ? true : undefined;
      },
      20_000,
      200,
    );
  });

  after(async () => {
    await server?.close();
    cri?.close();
    await fx?.close();
    pki?.close();
    if (logDir) rmSync(logDir, { recursive: true, force: true });
  });

  function open(path: string): Promise<Session> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${server.port}${path}`, ['v4.channel.k8s.io'], {
        ca: pki.ca,
        cert: pki.admin.cert,
        key: pki.admin.key,
        perMessageDeflate: false,
      });
      const channels = new Map<number, Buffer>();
      ws.on('message', (data: Buffer) => {
        const ch = data[0];
        if (ch === undefined) return;
        channels.set(ch, Buffer.concat([channels.get(ch) ?? Buffer.alloc(0), data.subarray(1)]));
      });
      const closed = new Promise<void>((r) => ws.once('close', () => r()));
      ws.once('open', () => resolve({ ws, channels, protocol: ws.protocol, closed }));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => reject(new Error(`HTTP ${res.statusCode ?? 0}: ${body}`)));
      });
      ws.once('error', reject);
    });
  }

  const text = (s: Session, ch: number): string => s.channels.get(ch)?.toString('utf8') ?? '';
  const send = (s: Session, ch: number, data: string): void => s.ws.send(Buffer.concat([Buffer.from([ch]), Buffer.from(data)]));
  const base = (): string => `${pod.namespace}/${pod.name}`;

  it('runs a command: stdout on channel 1, the status on channel 3', async () => {
    const s = await open(`/exec/${base()}/app?command=echo&command=hello&output=1`);
    assert.equal(s.protocol, 'v4.channel.k8s.io');
    await s.closed;
    assert.equal(text(s, 1), 'hello\n');
    assert.deepEqual(JSON.parse(text(s, 3)), { metadata: {}, status: 'Success' });
  });

  it("reports a failing command's exit code and its stderr (path with the pod UID)", async () => {
    const s = await open(`/exec/${base()}/${pod.uid}/app?command=sh&command=-c&command=${encodeURIComponent('echo oops >&2; exit 3')}&output=1&error=1`);
    await s.closed;
    assert.equal(text(s, 2), 'oops\n');
    const status = JSON.parse(text(s, 3)) as { status: string; reason: string; details: { causes: { reason: string; message: string }[] } };
    assert.equal(status.status, 'Failure');
    assert.equal(status.reason, 'NonZeroExitCode');
    assert.deepEqual(status.details.causes, [{ reason: 'ExitCode', message: '3' }]);
  });

  it('passes stdin to the command (channel 0)', async () => {
    const s = await open(`/exec/${base()}/app?command=head&command=-n&command=1&input=1&output=1`);
    send(s, 0, 'ping\n');
    await s.closed;
    assert.equal(text(s, 1), 'ping\n');
    assert.deepEqual(JSON.parse(text(s, 3)), { metadata: {}, status: 'Success' });
  });

  it("attaches to a running container's stdin and stdout", async () => {
    const s = await open(`/attach/${base()}/echoer?input=1&output=1`);
    send(s, 0, 'one\n');
    await waitFor('attach echo', () => (text(s, 1).includes('got one\n') ? true : undefined), 10_000);
    s.ws.close();
    await s.closed;
  });

  it('forwards a port of the pod (data and error channel, port number first)', async () => {
    const s = await open(`/portForward/${base()}?port=8080`);
    const portBytes = Buffer.from([8080 & 0xff, 8080 >> 8]);
    await waitFor('port-forward data', () => ((s.channels.get(0)?.length ?? 0) >= 2 + 3 ? true : undefined), 10_000);
    const data = s.channels.get(0) ?? Buffer.alloc(0);
    assert.deepEqual(data.subarray(0, 2), portBytes, 'the data channel opens with the port');
    assert.equal(data.subarray(2).toString(), 'hi\n');
    assert.deepEqual(s.channels.get(1)?.subarray(0, 2), portBytes, 'the error channel opens with the port');
    s.ws.close();
    await s.closed;
  });

  it("negotiates SPDY/3.1 with containerd, as kubectl's upgrade through the API server does", async () => {
    const u = await upgradeRequest(server.port, `/exec/${base()}/app?command=echo&command=hi&output=1`, {
      ca: pki.ca,
      who: pki.admin,
      headers: [
        ['Connection', 'Upgrade'],
        ['Upgrade', 'SPDY/3.1'],
        ['X-Stream-Protocol-Version', 'v4.channel.k8s.io'],
        ['X-Stream-Protocol-Version', 'channel.k8s.io'],
      ],
    });
    assert.equal(u.status, 101, u.head);
    assert.match(u.head, /\r\nUpgrade: SPDY\/3\.1/i);
    assert.match(u.head, /\r\nX-Stream-Protocol-Version: v4\.channel\.k8s\.io/i);
    u.socket.destroy();
  });

  it('refuses a stream to an unknown container and an unauthorized user', async () => {
    await assert.rejects(open(`/exec/${base()}/nope?command=ls&output=1`), /HTTP 404: container "nope"/);
    const viewer = new WebSocket(`wss://127.0.0.1:${server.port}/exec/${base()}/app?command=ls&output=1`, ['v4.channel.k8s.io'], {
      ca: pki.ca,
      cert: pki.viewer.cert,
      key: pki.viewer.key,
    });
    const status = await new Promise<number>((resolve, reject) => {
      viewer.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      viewer.once('open', () => reject(new Error('opened')));
      viewer.once('error', reject);
    });
    assert.equal(status, 403);
  });
});
