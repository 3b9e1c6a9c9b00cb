// The kubelet HTTPS server: client certificates, anonymous refused by default, authorization on
// upstream attributes, routes, bad requests, /healthz on its own port. Real TLS, real openssl
// certificates, port 0 on loopback.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { get as httpGet } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry, Counter } from 'prom-client';
import { createCa, ensureServingCert } from '../../src/native/certs.js';
import { startKubeletServer, subresourceOf, type KubeletServer, type RequestAttributes } from '../../src/server/kubelet-server.js';
import { buildSummary, cpuAndMemoryOnly } from '../../src/stats/summary.js';

interface Reply {
  status: number;
  body: string;
  type: string | undefined;
}

describe('kubelet HTTPS server', () => {
  let dir: string;
  let server: KubeletServer;
  let anonServer: KubeletServer;
  let ca: string;
  let admin: { cert: string; key: string };
  let viewer: { cert: string; key: string };
  let stranger: { cert: string; key: string };
  const seen: RequestAttributes[] = [];

  function call(port: number, path: string, who?: { cert: string; key: string }, method = 'GET'): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method, ca, ...(who ?? {}), servername: 'localhost' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: res.headers['content-type'] }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kts-server-'));
    const c = await createCa(join(dir, 'ca'));
    const other = await createCa(join(dir, 'other-ca'), 'someone-else');
    ca = readFileSync(c.caFile, 'utf8');
    const load = (p: { certFile: string; keyFile: string }): { cert: string; key: string } => ({
      cert: readFileSync(p.certFile, 'utf8'),
      key: readFileSync(p.keyFile, 'utf8'),
    });
    admin = load(await c.issueClient('admin', ['system:masters']));
    viewer = load(await c.issueClient('viewer'));
    stranger = load(await other.issueClient('admin', ['system:masters']));
    const serving = await c.issueServer('node-a', ['localhost', '127.0.0.1']);
    const registry = new Registry();
    new Counter({ name: 'kubelet_ts_test_total', help: 'test', registers: [registry] }).inc();
    const logFile = join(dir, '0.log');
    writeFileSync(logFile, '2026-11-22T10:00:00.000000000Z stdout F hello\n2026-11-22T10:00:01.000000000Z stdout F world\n');
    const backend = {
      nodeName: 'node-a',
      pods: () => [
        {
          metadata: { name: 'web-node-a', namespace: 'default', uid: 'u1' },
          spec: { containers: [{ name: 'c', image: 'i:1' }] },
          status: { phase: 'Running' as const },
        },
      ],
      runningPods: () => Promise.resolve([]),
      registry,
      configz: () => ({ maxPods: 110 }),
      statsSummary: (only: boolean) => {
        const sample = {
          at: Date.parse('2026-12-08T01:00:10Z'),
          nodeName: 'node-a',
          bootMs: Date.parse('2026-12-01T00:00:00Z'),
          nodeCpuNs: 20e9,
          memory: { capacityBytes: 8 * 2 ** 30, availableBytes: 6 * 2 ** 30, workingSetBytes: 2 * 2 ** 30 },
          pods: [{ uid: 'u1', name: 'web-node-a', namespace: 'default', createdAtMs: Date.parse('2026-12-08T00:00:00Z') }],
          containers: [
            {
              id: 'c1',
              name: 'c',
              podUid: 'u1',
              podName: 'web-node-a',
              podNamespace: 'default',
              createdAtMs: Date.parse('2026-12-08T00:00:01Z'),
              cpuNs: 3e9,
              memoryWorkingSetBytes: 50 * 2 ** 20,
              rootfsBytes: 4096,
              logsBytes: 100,
            },
          ],
        };
        const prev = { ...sample, at: sample.at - 10_000, nodeCpuNs: 10e9, containers: [{ ...sample.containers[0]!, cpuNs: 2e9 }] };
        const summary = buildSummary(sample, prev);
        return Promise.resolve({ summary: only ? cpuAndMemoryOnly(summary) : summary });
      },
      probeMetrics: () =>
        Promise.resolve('prober_probe_total{probe_type="Readiness",result="successful",container="c",pod="web-node-a",namespace="default",pod_uid="u1"} 3\n'),
      containerLog: (ns: string, pod: string, container: string) =>
        Promise.resolve(
          ns === 'default' && pod === 'web-node-a' && container === 'c'
            ? { path: logFile, running: () => Promise.resolve(false) }
            : { error: `container ${container} of pod ${ns}/${pod} not found`, status: 404 },
        ),
      healthChecks: [
        { name: 'syncloop', check: () => ({ ok: true }) },
        { name: 'pleg', check: () => ({ ok: false, message: 'PLEG is not healthy: pleg was last seen active 3m1s ago' }) },
      ],
    };
    const tls = { cert: readFileSync(serving.certFile, 'utf8'), key: readFileSync(serving.keyFile, 'utf8'), clientCA: ca };
    server = await startKubeletServer({
      backend,
      address: '127.0.0.1',
      port: 0,
      tls,
      anonymous: false,
      healthz: { address: '127.0.0.1', port: 0 },
      authorizer: {
        authorize: (a) => {
          seen.push(a);
          const ok = a.user.groups.includes('system:masters') || (a.user.name === 'viewer' && a.subresource === 'metrics');
          return Promise.resolve({ allowed: ok });
        },
      },
    });
    anonServer = await startKubeletServer({
      backend,
      address: '127.0.0.1',
      port: 0,
      tls,
      anonymous: true,
      authorizer: { authorize: (a) => Promise.resolve({ allowed: a.subresource === 'metrics' }) },
    });
  });

  after(async () => {
    await server.close();
    await anonServer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses requests without a trusted client certificate (401)', async () => {
    assert.equal((await call(server.port, '/pods')).status, 401);
    const r = await call(server.port, '/pods', stranger);
    assert.equal(r.status, 401, 'a certificate from another CA is not trusted');
    assert.equal((await call(server.port, '/metrics')).status, 401);
  });

  it('authorizes on upstream attributes and says who was refused (403)', async () => {
    const r = await call(server.port, '/pods', viewer);
    assert.equal(r.status, 403);
    assert.equal(r.body.trim(), 'Forbidden (user=viewer, verb=get, resource=nodes, subresource(s)=[proxy])');
    assert.equal((await call(server.port, '/metrics', viewer)).status, 200);
    const last = seen[seen.length - 1]!;
    assert.deepEqual(
      { ...last, user: { ...last.user } },
      {
        user: { name: 'viewer', groups: ['system:authenticated'], via: 'x509' },
        verb: 'get',
        resource: 'nodes',
        name: 'node-a',
        subresource: 'metrics',
        path: '/metrics',
      },
    );
    assert.equal(subresourceOf('/stats/summary'), 'stats');
    assert.equal(subresourceOf('/logs/syslog'), 'log');
    assert.equal(subresourceOf('/containerLogs/a/b/c'), 'proxy');
  });

  it('serves /pods, /metrics, /configz and container logs to an authorized user', async () => {
    const pods = await call(server.port, '/pods', admin);
    assert.equal(pods.status, 200);
    const list = JSON.parse(pods.body) as { kind: string; items: { metadata: { name: string } }[] };
    assert.equal(list.kind, 'PodList');
    assert.deepEqual(
      list.items.map((p) => p.metadata.name),
      ['web-node-a'],
    );
    const metrics = await call(server.port, '/metrics', admin);
    assert.match(metrics.body, /kubelet_ts_test_total 1/);
    assert.match(metrics.type ?? '', /text\/plain/);
    assert.deepEqual(JSON.parse((await call(server.port, '/configz', admin)).body), { kubeletconfig: { maxPods: 110 } });
    assert.equal((await call(server.port, '/containerLogs/default/web-node-a/c', admin)).body, 'hello\nworld\n');
    assert.equal(
      (await call(server.port, '/containerLogs/default/web-node-a/c?tailLines=1&timestamps=true', admin)).body,
      '2026-11-22T10:00:01.000000000Z world\n',
    );
  });

  it('serves /metrics/probes with the authorization of /metrics (subresource metrics)', async () => {
    assert.equal((await call(server.port, '/metrics/probes')).status, 401);
    const r = await call(server.port, '/metrics/probes', viewer);
    assert.equal(r.status, 200);
    assert.match(
      r.body,
      /^prober_probe_total\{probe_type="Readiness",result="successful",container="c",pod="web-node-a",namespace="default",pod_uid="u1"\} 3$/m,
    );
    assert.match(r.type ?? '', /text\/plain/);
    const last = seen[seen.length - 1]!;
    assert.deepEqual([last.subresource, last.path], ['metrics', '/metrics/probes']);
  });

  it('serves /stats/summary (subresource stats) and /metrics/resource (subresource metrics)', async () => {
    assert.equal((await call(server.port, '/stats/summary')).status, 401);
    const refused = await call(server.port, '/stats/summary', viewer);
    assert.equal(refused.status, 403, 'the viewer may read metrics, not stats');
    assert.equal(refused.body.trim(), 'Forbidden (user=viewer, verb=get, resource=nodes, subresource(s)=[stats])');
    const r = await call(server.port, '/stats/summary', admin);
    assert.equal(r.status, 200);
    assert.deepEqual([seen.at(-1)?.subresource, seen.at(-1)?.path], ['stats', '/stats/summary']);
    const summary = JSON.parse(r.body) as {
      node: { nodeName: string; cpu: { usageNanoCores: number } };
      pods: { podRef: { name: string }; containers: { name: string; rootfs?: unknown }[]; 'ephemeral-storage'?: { usedBytes: number } }[];
    };
    assert.equal(summary.node.nodeName, 'node-a');
    assert.equal(summary.node.cpu.usageNanoCores, 1e9, '10 s of CPU in 10 s: one core');
    assert.equal(summary.pods[0]?.podRef.name, 'web-node-a');
    assert.equal(summary.pods[0]?.['ephemeral-storage']?.usedBytes, 4196);
    const only = JSON.parse((await call(server.port, '/stats/summary?only_cpu_and_memory=true', admin)).body) as typeof summary;
    assert.equal(only.pods[0]?.containers[0]?.rootfs, undefined);
    assert.equal(only.pods[0]?.['ephemeral-storage'], undefined);
    const m = await call(server.port, '/metrics/resource', viewer);
    assert.equal(m.status, 200);
    assert.deepEqual([seen.at(-1)?.subresource, seen.at(-1)?.path], ['metrics', '/metrics/resource']);
    const t = Date.parse('2026-12-08T01:00:10Z');
    assert.match(m.body, new RegExp(`^container_cpu_usage_seconds_total\\{container="c",namespace="default",pod="web-node-a"\\} 3 ${t}$`, 'm'));
    assert.match(m.body, new RegExp(`^container_memory_working_set_bytes\\{container="c",namespace="default",pod="web-node-a"\\} 52428800 ${t}$`, 'm'));
    assert.match(m.body, new RegExp(`^node_cpu_usage_seconds_total 20 ${t}$`, 'm'));
    assert.match(m.body, new RegExp(`^node_memory_working_set_bytes 2147483648 ${t}$`, 'm'));
    assert.match(m.body, new RegExp(`^pod_memory_working_set_bytes\\{namespace="default",pod="web-node-a"\\} 52428800 ${t}$`, 'm'));
    assert.match(m.body, /^container_start_time_seconds\{container="c",namespace="default",pod="web-node-a"\} 1796688001 /m);
    assert.match(m.body, /^# TYPE container_cpu_usage_seconds_total counter$/m);
    assert.match(m.body, /^scrape_error 0$/m);
  });

  it('answers bad requests clearly', async () => {
    const missing = await call(server.port, '/containerLogs/default/nope/c', admin);
    assert.equal(missing.status, 404);
    assert.match(missing.body, /container c of pod default\/nope not found/);
    const bad = await call(server.port, '/containerLogs/default/web-node-a/c?tailLines=-3', admin);
    assert.equal(bad.status, 400);
    assert.match(bad.body, /tailLines must be a non-negative integer/);
    assert.equal((await call(server.port, '/containerLogs/default', admin)).status, 400);
    assert.equal((await call(server.port, '/nothing-here', admin)).status, 404);
    assert.equal((await call(server.port, '/pods', admin, 'DELETE')).status, 405);
  });

  it('lets anonymous in only when enabled, and still authorizes it', async () => {
    assert.equal((await call(anonServer.port, '/metrics')).status, 200);
    const r = await call(anonServer.port, '/pods');
    assert.equal(r.status, 403);
    assert.match(r.body, /user=system:anonymous/);
  });

  it('serves /healthz on its own plain port, naming the failed check', async () => {
    const r = await new Promise<Reply>((resolve, reject) => {
      httpGet({ host: '127.0.0.1', port: server.healthzPort, path: '/healthz' }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: undefined }));
      }).on('error', reject);
    });
    assert.equal(r.status, 500);
    assert.match(r.body, /\[\+\]syncloop ok/);
    assert.match(r.body, /\[-\]pleg failed: PLEG is not healthy/);
  });

  it('makes a self-signed serving certificate once and reuses it', async () => {
    const a = await ensureServingCert({ certDir: join(dir, 'pki'), nodeName: 'node-a', hosts: ['127.0.0.1'] });
    const b = await ensureServingCert({ certDir: join(dir, 'pki'), nodeName: 'node-a', hosts: ['127.0.0.1'] });
    assert.equal(a.cert, b.cert);
    assert.match(a.certFile, /kubelet\.crt$/);
    const c = await ensureServingCert({ certDir: join(dir, 'pki'), nodeName: 'node-a', hosts: ['127.0.0.1', '10.0.0.9'] });
    assert.notEqual(c.cert, a.cert, 'a new address means a new certificate');
  });
});
