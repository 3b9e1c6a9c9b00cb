// kubelet-ts as a node of a real cluster (kube-apiserver v1.20.2 with etcd, Node,RBAC and
// NodeRestriction; containerd), driven only through the API server as a user would:
// registration and Ready, the Lease, capacity/addresses/nodeInfo, a pod bound to the node runs
// and its status is reported, kubectl logs / exec / describe, graceful deletion removes the
// object, a static pod's mirror pod (recreated when deleted, removed with the manifest), the
// kubelet API's 401/403, and not one 403 from NodeRestriction in the kubelet's log.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { readKubeconfigCredentials } from '../helpers/cluster-pki.js';
import { eventually, kubectlJson, startClusterNode, type ClusterNode } from '../helpers/cluster-node.js';
import { connectCri } from '../../src/native/cri/index.js';

interface K8sPod {
  metadata: { name: string; uid: string; annotations?: Record<string, string>; ownerReferences?: { kind: string; name: string }[]; deletionTimestamp?: string };
  status?: {
    phase?: string;
    podIP?: string;
    hostIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; ready: boolean; restartCount: number; state: Record<string, unknown> }[];
  };
}

function podManifest(name: string, command: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: name } },
    spec: {
      nodeName: 'n1',
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 5,
      containers: [{ name: 'main', image: 'docker.io/library/busybox:1.35', imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', command] }],
      ...extra,
    },
  });
}

function kubeletGet(cluster: TestCluster, path: string, kubeconfig?: string): Promise<{ status: number; body: string }> {
  const c = kubeconfig ? readKubeconfigCredentials(kubeconfig) : undefined;
  return new Promise((resolve, reject) => {
    const req = request(
      `https://${cluster.nodeIP}:10250${path}`,
      { rejectUnauthorized: false, ...(c ? { cert: c.cert, key: c.key } : {}), timeout: 10_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (s: string) => (text += s));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('kubelet-ts as a cluster node', () => {
  let cluster: TestCluster;
  let node: ClusterNode;

  before(async () => {
    cluster = await startTestCluster();
    // No controller-manager here: the namespace's default ServiceAccount is made by hand (pods
    // that don't mount its token need only that it exists).
    const sa = await cluster.kubectl(['create', 'serviceaccount', 'default', '-n', 'default']);
    assert.ok(sa.code === 0 || /already exists/.test(sa.stderr), sa.stderr);
    node = await startClusterNode(cluster, {
      extraArgs: [
        '--crash-loop-backoff-initial',
        '1s',
        '--node-labels',
        'node.kubernetes.io/pool=lab,example.com/team=kts',
        '--register-with-taints',
        'example.com/dedicated=tests:NoSchedule',
      ],
    });
  });

  after(async () => {
    try {
      await node?.stop();
    } finally {
      await cluster?.stop();
    }
  });

  it('registers, turns Ready, and reports capacity, addresses, nodeInfo and conditions', async () => {
    const n = await eventually(
      'node n1 Ready',
      async () => {
        const o = await kubectlJson<{
          metadata: { labels: Record<string, string> };
          status: { conditions: { type: string; status: string; reason: string }[] };
        }>(cluster, ['get', 'node', 'n1']);
        return o.status.conditions.find((c) => c.type === 'Ready')?.status === 'True' ? o : undefined;
      },
      60_000,
    );
    const full = n as unknown as {
      metadata: { labels: Record<string, string> };
      status: Record<string, unknown> & {
        conditions: { type: string; status: string; reason: string }[];
        addresses: { type: string; address: string }[];
        capacity: Record<string, string>;
        allocatable: Record<string, string>;
        nodeInfo: Record<string, string>;
        daemonEndpoints: { kubeletEndpoint: { Port: number } };
      };
    };
    assert.equal(full.metadata.labels['kubernetes.io/hostname'], 'n1');
    assert.equal(full.metadata.labels['kubernetes.io/os'], 'linux');
    assert.equal(full.metadata.labels['kubernetes.io/arch'], 'amd64');
    assert.deepEqual(full.status.conditions.map((c) => `${c.type}=${c.status}:${c.reason}`).sort(), [
      'DiskPressure=False:KubeletHasNoDiskPressure',
      'MemoryPressure=False:KubeletHasSufficientMemory',
      'PIDPressure=False:KubeletHasSufficientPID',
      'Ready=True:KubeletReady',
    ]);
    assert.deepEqual(full.status.addresses.find((a) => a.type === 'InternalIP')?.address, cluster.nodeIP);
    assert.ok(full.status.addresses.some((a) => a.type === 'Hostname'));
    for (const r of ['cpu', 'memory', 'pods', 'ephemeral-storage']) {
      assert.ok(full.status.capacity[r], `capacity ${r}`);
      assert.ok(full.status.allocatable[r], `allocatable ${r}`);
    }
    assert.equal(full.status.capacity['pods'], '110');
    assert.match(full.status.nodeInfo['containerRuntimeVersion'] ?? '', /^containerd:\/\/1\./);
    assert.match(full.status.nodeInfo['kubeletVersion'] ?? '', /^v1\.20\.2\+kubelet-ts/);
    assert.ok(full.status.nodeInfo['bootID'] && full.status.nodeInfo['kernelVersion'] && full.status.nodeInfo['osImage']);
    assert.equal(full.status.daemonEndpoints.kubeletEndpoint.Port, 10250);
  });

  it('holds the node Lease in kube-node-lease and renews it', async () => {
    const l1 = await eventually('lease n1', () =>
      kubectlJson<{ spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime: string } }>(cluster, [
        'get',
        'lease',
        'n1',
        '-n',
        'kube-node-lease',
      ]),
    );
    assert.equal(l1.spec.holderIdentity, 'n1');
    assert.equal(l1.spec.leaseDurationSeconds, 40);
    const l2 = await eventually(
      'lease renewed',
      async () => {
        const l = await kubectlJson<{ spec: { renewTime: string } }>(cluster, ['get', 'lease', 'n1', '-n', 'kube-node-lease']);
        return Date.parse(l.spec.renewTime) > Date.parse(l1.spec.renewTime) ? l : undefined;
      },
      20_000,
    );
    assert.ok(Date.parse(l2.spec.renewTime) - Date.parse(l1.spec.renewTime) >= 5_000, 'renewed about every 10 s');
  });

  it('runs a pod bound to the node and reports Running, Ready, IPs and container status', async () => {
    const r = await cluster.kubectl(['apply', '-f', '-'], { stdin: podManifest('web', 'echo hello from web; echo line two; exec sleep 3600') });
    assert.equal(r.code, 0, r.stderr);
    const pod = await eventually(
      'pod web Running and Ready',
      async () => {
        const p = await kubectlJson<K8sPod>(cluster, ['get', 'pod', 'web']);
        return p.status?.phase === 'Running' && p.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? p : undefined;
      },
      60_000,
    );
    assert.equal(pod.status?.hostIP, cluster.nodeIP);
    assert.match(pod.status?.podIP ?? '', /^\d+\.\d+\.\d+\.\d+$/);
    assert.equal(pod.status?.containerStatuses?.[0]?.ready, true);
    assert.ok(pod.status?.containerStatuses?.[0]?.state['running']);
  });

  it('serves kubectl logs and kubectl exec through the API server', async () => {
    const logs = await cluster.kubectl(['logs', 'web']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, 'hello from web\nline two\n');
    const tail = await cluster.kubectl(['logs', 'web', '--tail', '1']);
    assert.equal(tail.stdout, 'line two\n');
    const exec = await cluster.kubectl(['exec', 'web', '--', 'sh', '-c', 'echo exec works; id -u']);
    assert.equal(exec.code, 0, exec.stderr);
    assert.equal(exec.stdout, 'exec works\n0\n');
    const stdin = await cluster.kubectl(['exec', '-i', 'web', '--', 'cat'], { stdin: 'through stdin\n' });
    assert.equal(stdin.code, 0, stdin.stderr);
    assert.equal(stdin.stdout, 'through stdin\n');
  });

  it('serves kubectl logs -f, --timestamps, --since and --previous, and kubectl port-forward', async () => {
    const talker = podManifest('talker', 'nc -ll -p 8080 -e echo hi from the pod & i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done');
    assert.equal((await cluster.kubectl(['apply', '-f', '-'], { stdin: talker })).code, 0);
    const crasher = podManifest('crasher', 'echo run at $(date +%s); sleep 1; exit 1');
    assert.equal((await cluster.kubectl(['apply', '-f', '-'], { stdin: crasher })).code, 0);
    await eventually('talker Running', async () => (await kubectlJson<K8sPod>(cluster, ['get', 'pod', 'talker'])).status?.phase === 'Running', 60_000);

    // -f: lines keep coming while we read.
    const follow = spawn('/usr/bin/kubectl', ['--kubeconfig', cluster.adminKubeconfig, 'logs', '-f', 'talker']);
    let followed = '';
    follow.stdout.setEncoding('utf8');
    follow.stdout.on('data', (s: string) => (followed += s));
    const firstLines = await eventually(
      'three lines followed',
      () => Promise.resolve(followed.split('\n').filter(Boolean).length >= 3 ? followed : undefined),
      20_000,
      200,
    );
    follow.kill();
    const ticks = firstLines
      .split('\n')
      .filter(Boolean)
      .map((l) => Number(/^tick (\d+)$/.exec(l)?.[1]));
    assert.ok(
      ticks.every((n, i) => i === 0 || n === (ticks[i - 1] ?? 0) + 1),
      `consecutive ticks: ${firstLines}`,
    );

    const ts = await cluster.kubectl(['logs', 'talker', '--timestamps', '--tail', '2']);
    assert.match(ts.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z tick \d+\n\d{4}-\d\d-\d\dT[^ ]+ tick \d+\n$/);
    const recent = await cluster.kubectl(['logs', 'talker', '--since', '2s']);
    const all = await cluster.kubectl(['logs', 'talker']);
    const nRecent = recent.stdout.split('\n').filter(Boolean).length;
    assert.ok(nRecent >= 1 && nRecent < all.stdout.split('\n').filter(Boolean).length, `--since 2s gives the last lines only (${nRecent})`);

    // --previous: the crasher's first run, after it restarted.
    const restarted = await eventually(
      'crasher restarted',
      async () => {
        const p = await kubectlJson<K8sPod>(cluster, ['get', 'pod', 'crasher']);
        return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? p : undefined;
      },
      60_000,
    );
    assert.ok(restarted);
    const prev = await cluster.kubectl(['logs', 'crasher', '--previous']);
    assert.equal(prev.code, 0, prev.stderr);
    assert.match(prev.stdout, /^run at \d+\n$/);

    // port-forward: a local port through the API server and the kubelet into the pod.
    const pf = spawn('/usr/bin/kubectl', ['--kubeconfig', cluster.adminKubeconfig, 'port-forward', 'pod/talker', '18080:8080']);
    let pfOut = '';
    pf.stdout.setEncoding('utf8');
    pf.stdout.on('data', (s: string) => (pfOut += s));
    pf.stderr.setEncoding('utf8');
    pf.stderr.on('data', (s: string) => (pfOut += s));
    try {
      await eventually('port-forward listening', () => Promise.resolve(/Forwarding from 127\.0\.0\.1:18080/.test(pfOut) || undefined), 20_000, 200);
      const answer = await new Promise<string>((resolve, reject) => {
        const sock = connect(18080, '127.0.0.1');
        let got = '';
        sock.setEncoding('utf8');
        sock.on('data', (d: string) => (got += d));
        sock.on('end', () => resolve(got));
        sock.on('error', reject);
        setTimeout(() => {
          sock.destroy();
          resolve(got);
        }, 5000).unref();
      });
      assert.equal(answer, 'hi from the pod\n', pfOut);
    } finally {
      pf.kill();
    }
    assert.equal((await cluster.kubectl(['delete', 'pod', 'crasher', 'talker', '--grace-period=1'])).code, 0);
  });

  it('kubectl describe shows the events in order', async () => {
    const events = await eventually(
      'events of pod web',
      async () => {
        const list = await kubectlJson<{
          items: { reason: string; involvedObject: { name: string; uid: string }; source: { component: string; host: string } }[];
        }>(cluster, ['get', 'events', '--field-selector', 'involvedObject.name=web', '--sort-by', '.metadata.creationTimestamp']);
        const reasons = list.items.map((e) => e.reason);
        return reasons.includes('Started') ? list.items : undefined;
      },
      30_000,
    );
    assert.equal(events[0]?.source.component, 'kubelet');
    assert.equal(events[0]?.source.host, 'n1');
    const d = await cluster.kubectl(['describe', 'pod', 'web']);
    // In the order kubectl describe shows them (by time, then as listed).
    const shown = [...d.stdout.matchAll(/^\s+(Normal|Warning)\s+(\w+)\s/gm)].map((m) => m[2]);
    assert.deepEqual(
      shown.filter((r) => r === 'Pulled' || r === 'Created' || r === 'Started'),
      ['Pulled', 'Created', 'Started'],
      d.stdout,
    );
    assert.match(d.stdout, /Normal\s+Pulled\s+.*kubelet.*Container image "docker.io\/library\/busybox:1.35" already present on machine/);
    assert.match(d.stdout, /Normal\s+Started\s+.*Started container main/);
  });

  it('a kubelet restart adopts the running pod: same container, no restart, node still Ready', async () => {
    const before = await kubectlJson<K8sPod>(cluster, ['get', 'pod', 'web']);
    const id = (before.status?.containerStatuses?.[0] as { containerID?: string } | undefined)?.containerID;
    assert.ok(id);
    await node.restart();
    await eventually(
      'kubelet back (registered again by the new process)',
      () => Promise.resolve(node.logLines().filter((l) => l['msg'] === 'node registered').length >= 2),
      30_000,
    );
    // Give the new process a full reconcile to write anything it thinks changed.
    await new Promise((r) => setTimeout(r, 12_000));
    const after = await kubectlJson<K8sPod>(cluster, ['get', 'pod', 'web']);
    const cs = after.status?.containerStatuses?.[0] as { containerID?: string; restartCount: number } | undefined;
    assert.equal(cs?.containerID, id, 'the same container');
    assert.equal(cs?.restartCount, 0);
    assert.equal(after.status?.phase, 'Running');
    const n = await kubectlJson<{
      metadata: { labels: Record<string, string> };
      spec: { taints?: { key: string; effect: string }[] };
      status: { conditions: { type: string; status: string }[] };
    }>(cluster, ['get', 'node', 'n1']);
    assert.equal(n.status.conditions.find((c) => c.type === 'Ready')?.status, 'True');
  });

  it('registers with --node-labels and --register-with-taints', async () => {
    const n = await kubectlJson<{ metadata: { labels: Record<string, string> }; spec: { taints?: { key: string; value?: string; effect: string }[] } }>(
      cluster,
      ['get', 'node', 'n1'],
    );
    assert.equal(n.metadata.labels['node.kubernetes.io/pool'], 'lab');
    assert.equal(n.metadata.labels['example.com/team'], 'kts');
    // (The API server's TaintNodesByCondition admission also adds node.kubernetes.io/not-ready at
    // creation; with no node lifecycle controller in this cluster nobody takes it off.)
    assert.deepEqual(
      n.spec.taints?.filter((t) => !t.key.startsWith('node.kubernetes.io/')).map((t) => `${t.key}=${t.value ?? ''}:${t.effect}`),
      ['example.com/dedicated=tests:NoSchedule'],
    );
  });

  it('a graceful delete terminates the pod and the kubelet removes the object', async () => {
    const before = await kubectlJson<K8sPod>(cluster, ['get', 'pod', 'web']);
    const r = await cluster.kubectl(['delete', 'pod', 'web', '--wait=false']);
    assert.equal(r.code, 0, r.stderr);
    await eventually(
      'pod web gone from the API server',
      async () => {
        const g = await cluster.kubectl(['get', 'pod', 'web']);
        return g.code !== 0 && /NotFound/.test(g.stderr);
      },
      40_000,
    );
    const cri = connectCri(node.endpoint);
    try {
      await eventually(
        'sandbox of web removed',
        async () => {
          const s = await cri.ListPodSandbox({ filter: { labelSelector: { 'io.kubernetes.pod.uid': before.metadata.uid } } });
          return s.items.length === 0;
        },
        30_000,
      );
    } finally {
      cri.close();
    }
    const killing = await kubectlJson<{ items: { reason: string }[] }>(cluster, [
      'get',
      'events',
      '--field-selector',
      `involvedObject.uid=${before.metadata.uid}`,
    ]);
    assert.ok(
      killing.items.some((e) => e.reason === 'Killing'),
      'a Killing event',
    );
  });

  it('reflects a static pod as a mirror pod, recreates it when deleted, removes it with the manifest', async () => {
    const manifest = join(node.manifestDir, 'static-web.json');
    writeFileSync(
      manifest,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'static-web', namespace: 'default' },
        spec: { containers: [{ name: 'main', image: 'docker.io/library/busybox:1.35', command: ['sleep', '3600'] }] },
      }),
    );
    const mirror = await eventually(
      'mirror pod static-web-n1 Running',
      async () => {
        const p = await kubectlJson<K8sPod>(cluster, ['get', 'pod', 'static-web-n1']);
        return p.status?.phase === 'Running' ? p : undefined;
      },
      60_000,
    );
    assert.ok(mirror.metadata.annotations?.['kubernetes.io/config.mirror'], 'mirror annotation');
    assert.deepEqual(
      mirror.metadata.ownerReferences?.map((o) => `${o.kind}/${o.name}`),
      ['Node/n1'],
    );
    const del = await cluster.kubectl(['delete', 'pod', 'static-web-n1', '--wait=false']);
    assert.equal(del.code, 0, del.stderr);
    const again = await eventually(
      'mirror pod recreated',
      async () => {
        const p = await kubectlJson<K8sPod>(cluster, ['get', 'pod', 'static-web-n1']);
        return p.metadata.uid !== mirror.metadata.uid && !p.metadata.deletionTimestamp ? p : undefined;
      },
      30_000,
    );
    await eventually(
      'recreated mirror shows Running',
      async () => {
        const p = await kubectlJson<K8sPod>(cluster, ['get', 'pod', 'static-web-n1']);
        return p.metadata.uid === again.metadata.uid && p.status?.phase === 'Running';
      },
      30_000,
    );
    rmSync(manifest);
    await eventually(
      'mirror pod gone with the manifest',
      async () => {
        const g = await cluster.kubectl(['get', 'pod', 'static-web-n1']);
        return g.code !== 0 && /NotFound/.test(g.stderr);
      },
      40_000,
    );
  });

  it('the kubelet API answers 401 without credentials and 403 to a user without permission', async () => {
    const anon = await kubeletGet(cluster, '/pods');
    assert.equal(anon.status, 401);
    const alice = await cluster.userKubeconfig('alice');
    const denied = await kubeletGet(cluster, '/pods', alice);
    assert.equal(denied.status, 403);
    assert.match(denied.body, /Forbidden \(user=alice, verb=get, resource=nodes, subresource\(s\)=\[proxy\]\)/);
    const admin = await kubeletGet(cluster, '/pods', cluster.adminKubeconfig);
    assert.equal(admin.status, 200);
  });

  it('nothing the kubelet wrote was refused (no 403 in its log)', () => {
    assert.deepEqual(node.forbiddenLines(), []);
  });
});
