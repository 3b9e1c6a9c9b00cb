// Pod volumes on kubelet-ts through a real API server: secret, configMap, downwardAPI and
// projected (service account token, configMap, downwardAPI) volumes show the right content and
// file modes inside the container, and follow updates of the objects through the ..data swap;
// emptyDir (on disk and in memory) and hostPath (DirectoryOrCreate) work; env from configMap
// and secret keys. Read from inside the container with kubectl exec, as a user would.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { eventually, kubectlJson, startClusterNode, type ClusterNode } from '../helpers/cluster-node.js';

async function apply(cluster: TestCluster, obj: unknown): Promise<void> {
  const r = await cluster.kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(obj) });
  assert.equal(r.code, 0, r.stderr);
}

async function sh(cluster: TestCluster, pod: string, script: string): Promise<string> {
  const r = await cluster.kubectl(['exec', pod, '--', 'sh', '-c', script]);
  assert.equal(r.code, 0, `${script}: ${r.stderr}`);
  return r.stdout;
}

describe('pod volumes through the API server', () => {
  let cluster: TestCluster;
  let node: ClusterNode;
  const hostDir = `/tmp/kts-hostpath-${process.pid}`;

  before(async () => {
    cluster = await startTestCluster();
    await cluster.kubectl(['create', 'serviceaccount', 'default', '-n', 'default']);
    node = await startClusterNode(cluster, { extraArgs: ['--sync-frequency', '3s'] });
    await apply(cluster, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds' }, stringData: { user: 'admin', password: 's3cret' } });
    await apply(cluster, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { 'app.conf': 'color=blue\n', level: 'info' } });
    await apply(cluster, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'vols', labels: { app: 'vols', tier: 'back' }, annotations: { note: 'hello' } },
      spec: {
        nodeName: 'n1',
        automountServiceAccountToken: false,
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'main',
            image: 'docker.io/library/busybox:1.35',
            command: ['sleep', '3600'],
            env: [
              { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'settings', key: 'level' } } },
              { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
              { name: 'MISSING', valueFrom: { configMapKeyRef: { name: 'nope', key: 'x', optional: true } } },
            ],
            envFrom: [{ prefix: 'CFG_', configMapRef: { name: 'settings' } }],
            volumeMounts: [
              { name: 'secret', mountPath: '/etc/secret', readOnly: true },
              { name: 'config', mountPath: '/etc/config' },
              { name: 'podinfo', mountPath: '/etc/podinfo' },
              { name: 'projected', mountPath: '/etc/projected' },
              { name: 'scratch', mountPath: '/scratch' },
              { name: 'mem', mountPath: '/mem' },
              { name: 'host', mountPath: '/host' },
            ],
          },
        ],
        volumes: [
          {
            name: 'secret',
            secret: {
              secretName: 'creds',
              defaultMode: 0o400,
              items: [
                { key: 'password', path: 'pw', mode: 0o440 },
                { key: 'user', path: 'user' },
              ],
            },
          },
          { name: 'config', configMap: { name: 'settings' } },
          {
            name: 'podinfo',
            downwardAPI: {
              items: [
                { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
                { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
                { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
              ],
            },
          },
          {
            name: 'projected',
            projected: {
              sources: [
                { serviceAccountToken: { path: 'token', expirationSeconds: 3600, audience: 'test-audience' } },
                { configMap: { name: 'settings', items: [{ key: 'level', path: 'level' }] } },
                { downwardAPI: { items: [{ path: 'ns', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
              ],
            },
          },
          { name: 'scratch', emptyDir: {} },
          { name: 'mem', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
          { name: 'host', hostPath: { path: hostDir, type: 'DirectoryOrCreate' } },
        ],
      },
    });
    await eventually(
      'pod vols Running',
      async () => (await kubectlJson<{ status?: { phase?: string } }>(cluster, ['get', 'pod', 'vols'])).status?.phase === 'Running',
      90_000,
    );
  });

  after(async () => {
    try {
      await node?.stop();
    } finally {
      await cluster?.stop();
    }
  });

  it('secret: items, paths and modes; the ..data layout', async () => {
    assert.equal(await sh(cluster, 'vols', 'cat /etc/secret/pw; echo; cat /etc/secret/user'), 's3cret\nadmin');
    assert.equal(await sh(cluster, 'vols', 'stat -L -c %a /etc/secret/pw /etc/secret/user'), '440\n400\n');
    const ls = await sh(cluster, 'vols', 'ls -a /etc/secret');
    assert.match(ls, /\.\.data/);
    assert.equal(await sh(cluster, 'vols', 'readlink /etc/secret/pw'), '..data/pw\n');
  });

  it('configMap, downwardAPI and projected (service account token included)', async () => {
    assert.equal(await sh(cluster, 'vols', 'cat /etc/config/app.conf /etc/config/level'), 'color=blue\ninfo');
    assert.equal(await sh(cluster, 'vols', 'stat -L -c %a /etc/config/level'), '644\n');
    assert.equal(await sh(cluster, 'vols', 'cat /etc/podinfo/labels'), 'app="vols"\ntier="back"');
    assert.equal(await sh(cluster, 'vols', 'cat /etc/podinfo/name'), 'vols');
    assert.match(await sh(cluster, 'vols', 'cat /etc/podinfo/annotations'), /note="hello"/);
    assert.equal(await sh(cluster, 'vols', 'cat /etc/projected/level /etc/projected/ns'), 'infodefault');
    const token = await sh(cluster, 'vols', 'cat /etc/projected/token');
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      aud: string[];
      sub: string;
      'kubernetes.io': { pod: { name: string } };
    };
    assert.deepEqual(payload.aud, ['test-audience']);
    assert.equal(payload.sub, 'system:serviceaccount:default:default');
    assert.equal(payload['kubernetes.io'].pod.name, 'vols', 'the token is bound to the pod');
  });

  it('env from configMap and secret keys, envFrom with a prefix, optional missing', async () => {
    const env = await sh(cluster, 'vols', 'echo "$LEVEL|$PASSWORD|${MISSING-unset}|$CFG_level"');
    assert.equal(env, 'info|s3cret|unset|info\n');
  });

  it('emptyDir on disk and in memory; hostPath DirectoryOrCreate', async () => {
    await sh(cluster, 'vols', 'echo data > /scratch/f && echo mem > /mem/f && echo host > /host/f');
    assert.match(await sh(cluster, 'vols', 'grep " /mem " /proc/mounts'), /tmpfs \/mem tmpfs .*size=16384k/);
    assert.ok(existsSync(hostDir), 'hostPath directory created on the host');
    assert.equal(readFileSync(`${hostDir}/f`, 'utf8'), 'host\n');
  });

  it('updates of the configMap and the secret reach the files (atomic ..data swap)', async () => {
    await apply(cluster, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { 'app.conf': 'color=green\n', level: 'debug' } });
    await apply(cluster, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds' }, stringData: { user: 'admin', password: 'rotated' } });
    await eventually('configMap update visible', async () => (await sh(cluster, 'vols', 'cat /etc/config/app.conf')) === 'color=green\n', 60_000, 1000);
    await eventually('secret update visible', async () => (await sh(cluster, 'vols', 'cat /etc/secret/pw')) === 'rotated', 60_000, 1000);
    await eventually('projected configMap item updated', async () => (await sh(cluster, 'vols', 'cat /etc/projected/level')) === 'debug', 60_000, 1000);
  });

  it('a missing secret holds the pod with a FailedMount event', async () => {
    await apply(cluster, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'nosecret' },
      spec: {
        nodeName: 'n1',
        automountServiceAccountToken: false,
        containers: [{ name: 'main', image: 'docker.io/library/busybox:1.35', command: ['sleep', '3600'], volumeMounts: [{ name: 's', mountPath: '/s' }] }],
        volumes: [{ name: 's', secret: { secretName: 'absent' } }],
      },
    });
    const ev = await eventually(
      'FailedMount event',
      async () => {
        const l = await kubectlJson<{ items: { reason: string; message: string }[] }>(cluster, [
          'get',
          'events',
          '--field-selector',
          'involvedObject.name=nosecret',
        ]);
        return l.items.find((e) => e.reason === 'FailedMount');
      },
      60_000,
    );
    assert.match(ev.message, /MountVolume\.SetUp failed for volume "s" : secret "absent" not found/);
    const p = await kubectlJson<{ status?: { phase?: string } }>(cluster, ['get', 'pod', 'nosecret']);
    assert.equal(p.status?.phase ?? 'Pending', 'Pending');
    assert.deepEqual(node.forbiddenLines(), []);
  });
});
