// The container environment through a real API server (kubelet-ts on containerd): configMap and
// secret key refs (optional and missing), envFrom with a prefix, fieldRefs (labels, annotations,
// serviceAccountName, nodeName, hostIP, podIP, podIPs), $(VAR) over the service variables, and
// service links for two Services in the pod's namespace (one with named ports, one headless
// that gives nothing) plus the master `kubernetes` service; enableServiceLinks false keeps only
// the master service. Each container's `env` is compared with the exact expected set.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { eventually, kubectlJson, startClusterNode, type ClusterNode } from '../helpers/cluster-node.js';

interface PodJson {
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: { ip: string }[];
    hostIP?: string;
    containerStatuses?: { name: string; state?: { waiting?: { reason?: string; message?: string } } }[];
  };
  metadata: { uid?: string };
}

const NS = 'shop';
const IMAGE = 'docker.io/library/busybox:1.35';

async function apply(cluster: TestCluster, obj: unknown): Promise<void> {
  const r = await cluster.kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(obj) });
  assert.equal(r.code, 0, r.stderr);
}

/** `env` in the container, without what the runtime and image add (HOME, HOSTNAME, PATH). */
async function containerEnv(cluster: TestCluster, pod: string): Promise<Record<string, string>> {
  const r = await cluster.kubectl(['exec', '-n', NS, pod, '--', 'env']);
  assert.equal(r.code, 0, r.stderr);
  const env: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  for (const k of ['HOME', 'HOSTNAME', 'PATH']) {
    assert.ok(k in env, `${k} set by the runtime`);
    delete env[k];
  }
  return env;
}

// The master service the API server makes: first address of --service-cluster-ip-range, port 443 named https.
const KUBERNETES = {
  KUBERNETES_SERVICE_HOST: '10.0.0.1',
  KUBERNETES_SERVICE_PORT: '443',
  KUBERNETES_SERVICE_PORT_HTTPS: '443',
  KUBERNETES_PORT: 'tcp://10.0.0.1:443',
  KUBERNETES_PORT_443_TCP: 'tcp://10.0.0.1:443',
  KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
  KUBERNETES_PORT_443_TCP_PORT: '443',
  KUBERNETES_PORT_443_TCP_ADDR: '10.0.0.1',
};

const WEB_FRONT = {
  WEB_FRONT_SERVICE_HOST: '10.0.0.50',
  WEB_FRONT_SERVICE_PORT: '80',
  WEB_FRONT_SERVICE_PORT_HTTP: '80',
  WEB_FRONT_SERVICE_PORT_DNS_UDP: '53',
  WEB_FRONT_PORT: 'tcp://10.0.0.50:80',
  WEB_FRONT_PORT_80_TCP: 'tcp://10.0.0.50:80',
  WEB_FRONT_PORT_80_TCP_PROTO: 'tcp',
  WEB_FRONT_PORT_80_TCP_PORT: '80',
  WEB_FRONT_PORT_80_TCP_ADDR: '10.0.0.50',
  WEB_FRONT_PORT_53_UDP: 'udp://10.0.0.50:53',
  WEB_FRONT_PORT_53_UDP_PROTO: 'udp',
  WEB_FRONT_PORT_53_UDP_PORT: '53',
  WEB_FRONT_PORT_53_UDP_ADDR: '10.0.0.50',
};

function pod(name: string, spec: Record<string, unknown>, container: Record<string, unknown>, metadata: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, ...metadata },
    spec: {
      nodeName: 'n1',
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 1,
      ...spec,
      containers: [{ name: 'main', image: IMAGE, command: ['sleep', '3600'], ...container }],
    },
  };
}

describe('container env through the API server', () => {
  let cluster: TestCluster;
  let node: ClusterNode;

  before(async () => {
    cluster = await startTestCluster();
    assert.equal((await cluster.kubectl(['create', 'namespace', NS])).code, 0);
    await cluster.kubectl(['create', 'serviceaccount', 'builder', '-n', NS]);
    await cluster.kubectl(['create', 'serviceaccount', 'default', '-n', NS]);
    await apply(cluster, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: NS }, data: { level: 'info', mode: 'fast' } });
    await apply(cluster, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'raw', namespace: NS }, data: { '2fast': 'x', ok_key: 'y' } });
    await apply(cluster, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: NS }, stringData: { password: 's3cret', user: 'admin' } });
    await apply(cluster, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web-front', namespace: NS },
      spec: {
        clusterIP: '10.0.0.50',
        ports: [
          { name: 'http', port: 80, targetPort: 8080 },
          { name: 'dns-udp', port: 53, protocol: 'UDP' },
        ],
      },
    });
    await apply(cluster, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'db-headless', namespace: NS },
      spec: { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] },
    });
    // A service of another namespace: not the pod's, so nothing of it.
    await apply(cluster, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'elsewhere', namespace: 'default' },
      spec: { clusterIP: '10.0.0.60', ports: [{ port: 8080 }] },
    });
    node = await startClusterNode(cluster);
  });

  after(async () => {
    try {
      await node?.stop();
    } finally {
      await cluster?.stop();
    }
  });

  it('key refs, envFrom with prefixes, fieldRefs and service links give the exact upstream set', async () => {
    await apply(
      cluster,
      pod(
        'envp',
        { serviceAccountName: 'builder' },
        {
          envFrom: [
            { prefix: 'CFG_', configMapRef: { name: 'settings' } },
            { prefix: 'S_', secretRef: { name: 'creds' } },
            { configMapRef: { name: 'absent', optional: true } },
            { configMapRef: { name: 'raw' } },
          ],
          env: [
            { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'settings', key: 'level' } } },
            { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
            { name: 'OPT_KEY', valueFrom: { configMapKeyRef: { name: 'settings', key: 'nokey', optional: true } } },
            { name: 'OPT_OBJ', valueFrom: { secretKeyRef: { name: 'absent', key: 'x', optional: true } } },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
            { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
            { name: 'TEAM', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['team']" } } },
            { name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
            { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'POD_IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } },
            { name: 'FRONT_URL', value: 'http://$(WEB_FRONT_SERVICE_HOST):$(WEB_FRONT_SERVICE_PORT_HTTP)/$(CFG_mode)' },
            { name: 'API', value: '$(KUBERNETES_PORT_443_TCP_ADDR)|$(DB_HEADLESS_SERVICE_HOST)' },
            // The container's own definition wins over a service variable.
            { name: 'WEB_FRONT_PORT', value: 'mine' },
          ],
        },
        { labels: { app: 'shop-web' }, annotations: { team: 'blue' } },
      ),
    );
    const p = await eventually(
      'pod envp Running',
      async () => {
        const j = await kubectlJson<PodJson>(cluster, ['get', 'pod', '-n', NS, 'envp']);
        return j.status?.phase === 'Running' ? j : undefined;
      },
      90_000,
    );
    const podIP = p.status?.podIP ?? '';
    assert.ok(podIP.length > 0);
    assert.equal(p.status?.hostIP, cluster.nodeIP);
    assert.deepEqual(
      p.status?.podIPs?.map((x) => x.ip),
      [podIP],
    );
    const env = await containerEnv(cluster, 'envp');
    assert.deepEqual(env, {
      ...KUBERNETES,
      ...WEB_FRONT,
      WEB_FRONT_PORT: 'mine',
      CFG_level: 'info',
      CFG_mode: 'fast',
      S_password: 's3cret',
      S_user: 'admin',
      ok_key: 'y',
      LEVEL: 'info',
      PASSWORD: 's3cret',
      POD_NAME: 'envp',
      POD_NS: 'shop',
      POD_UID: p.metadata.uid ?? '',
      APP: 'shop-web',
      TEAM: 'blue',
      SA: 'builder',
      NODE: 'n1',
      HOST_IP: cluster.nodeIP,
      POD_IP: podIP,
      POD_IPS: podIP,
      FRONT_URL: 'http://10.0.0.50:80/fast',
      API: '10.0.0.1|$(DB_HEADLESS_SERVICE_HOST)',
    });
    const events = await eventually(
      'InvalidEnvironmentVariableNames event',
      async () => {
        const list = await kubectlJson<{ items: { reason?: string; message?: string; type?: string }[] }>(cluster, [
          'get',
          'events',
          '-n',
          NS,
          '--field-selector',
          'involvedObject.name=envp',
        ]);
        const found = list.items.filter((e) => e.reason === 'InvalidEnvironmentVariableNames');
        return found.length > 0 ? found : undefined;
      },
      30_000,
    );
    assert.equal(events[0]?.type, 'Warning');
    assert.equal(
      events[0]?.message,
      'Keys [2fast] from the EnvFrom configMap shop/raw were skipped since they are considered invalid environment variable names.',
    );
    assert.deepEqual(node.forbiddenLines(), [], 'the Node authorizer lets the kubelet list and watch Services');
  });

  it('enableServiceLinks false: only the master service variables', async () => {
    await apply(cluster, pod('nolinks', { enableServiceLinks: false }, { env: [{ name: 'OWN', value: 'x' }] }));
    await eventually(
      'pod nolinks Running',
      async () => (await kubectlJson<PodJson>(cluster, ['get', 'pod', '-n', NS, 'nolinks'])).status?.phase === 'Running',
      90_000,
    );
    assert.deepEqual(await containerEnv(cluster, 'nolinks'), { ...KUBERNETES, OWN: 'x' });
  });

  it('a missing object or key that is not optional: CreateContainerConfigError with upstream words', async () => {
    await apply(cluster, pod('nokey', {}, { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'settings', key: 'nokey' } } }] }));
    await apply(cluster, pod('noobj', {}, { env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'absent', key: 'x' } } }] }));
    const waiting = async (name: string): Promise<{ reason?: string; message?: string }> =>
      eventually(
        `${name} waiting with CreateContainerConfigError`,
        async () => {
          const w = (await kubectlJson<PodJson>(cluster, ['get', 'pod', '-n', NS, name])).status?.containerStatuses?.[0]?.state?.waiting;
          return w?.reason === 'CreateContainerConfigError' ? w : undefined;
        },
        60_000,
      );
    assert.deepEqual(await waiting('nokey'), { reason: 'CreateContainerConfigError', message: "couldn't find key nokey in ConfigMap shop/settings" });
    assert.deepEqual(await waiting('noobj'), { reason: 'CreateContainerConfigError', message: 'secret "absent" not found' });
  });
});
