// The test cluster harness itself (test/helpers/cluster.ts): a real v1.20.2 control plane in a
// network namespace of its own, reachable from here; Node authorization and NodeRestriction as
// in production; controller-manager and scheduler working; kube-apiserver stopped and started
// again on the same etcd data; containerd beside it in the same namespace; nothing left behind,
// even when the test process exits without stop() or is SIGKILLed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { readKubeconfigCredentials } from '../helpers/cluster-pki.js';
import { startTestContainerd } from '../helpers/containerd-fixture.js';
import { connectCri } from '../../src/native/cri/index.js';
import { newPod, sandboxConfig, waitFor } from '../helpers/cri-fixtures.js';

/** One request with the client certificate of a kubeconfig. */
function apiRequest(kubeconfig: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  const c = readKubeconfigCredentials(kubeconfig);
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      `${c.server}${path}`,
      { method, ca: c.ca, cert: c.cert, key: c.key, headers: data === undefined ? {} : { 'content-type': 'application/json' }, timeout: 10_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (s: string) => (text += s));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

const nodeObject = (name: string): unknown => ({ apiVersion: 'v1', kind: 'Node', metadata: { name } });

/** Processes (pids) whose network namespace is the one at `path`. */
function pidsIn(path: string): number[] {
  const ino = statSync(path).ino;
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        return readlinkSync(`/proc/${e}/ns/net`) === `net:[${ino}]`;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Alive and not a zombie (a SIGKILLed child of a dead parent waits for init to reap it). */
function alive(pid: number): boolean {
  try {
    return /State:\s+[^Z]/.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

describe('test cluster harness', () => {
  let cluster: TestCluster;

  before(async () => {
    const t0 = Date.now();
    cluster = await startTestCluster({ controllers: true });
    console.log(`# cluster with controllers up in ${Date.now() - t0} ms (node ${cluster.nodeIP}, ${cluster.netnsPath})`);
  });
  after(() => cluster?.stop());

  it('serves /readyz through kubectl, from the host, at the namespace address', async () => {
    const r = await cluster.kubectl(['get', '--raw', '/readyz']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'ok');
    assert.equal(cluster.apiServerURL, `https://${cluster.nodeIP}:6443`);
    assert.ok(existsSync(cluster.netnsPath));
    assert.ok(existsSync(cluster.caFile));
  });

  it('runs processes inside the namespace, where the API server answers at the same URL', async () => {
    const kc = await cluster.nodeKubeconfig('inside');
    const child = cluster.spawnInNetns('/usr/bin/kubectl', [`--kubeconfig=${kc}`, `--cache-dir=${join(cluster.dir, 'kc-inside')}`, 'get', '--raw', '/readyz']);
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (out += s));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 0, out);
    assert.equal(out.trim(), 'ok');
    const ip = cluster.spawnInNetns('ip', ['-4', '-o', 'addr', 'show']);
    let addrs = '';
    ip.stdout?.setEncoding('utf8').on('data', (s: string) => (addrs += s));
    await new Promise((r) => ip.once('close', r));
    assert.match(addrs, new RegExp(`inet ${cluster.nodeIP.replace(/\./g, '\\.')}/30`));
    assert.match(addrs, /inet 127\.0\.0\.1\/8/, 'lo is up');
  });

  it('lets node n1 create its own Node and refuses it node n2 (Node authorizer + NodeRestriction)', async () => {
    const kc = await cluster.nodeKubeconfig('n1');
    const own = await apiRequest(kc, 'POST', '/api/v1/nodes', nodeObject('n1'));
    assert.equal(own.status, 201, own.body);
    const other = await apiRequest(kc, 'POST', '/api/v1/nodes', nodeObject('n2'));
    assert.equal(other.status, 403, other.body);
    assert.match(other.body, /n2/);
    // The node may read itself; kubectl with the node kubeconfig sees it.
    const get = await cluster.kubectl(['get', 'node', 'n1', '-o', 'name'], { kubeconfig: kc });
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout.trim(), 'node/n1');
    // Out of the way of the scheduling test below: with no node, a pod stays unschedulable.
    const del = await cluster.kubectl(['delete', 'node', 'n1', '--wait=false']);
    assert.equal(del.code, 0, del.stderr);
  });

  it('gives any other user 403 where RBAC grants nothing', async () => {
    const kc = await cluster.userKubeconfig('alice', ['team-a']);
    const r = await apiRequest(kc, 'GET', '/api/v1/namespaces/default/pods');
    assert.equal(r.status, 403, r.body);
    assert.match(r.body, /User \\?"alice\\?"/);
    const admin = await apiRequest(cluster.adminKubeconfig, 'GET', '/api/v1/namespaces/default/pods');
    assert.equal(admin.status, 200, admin.body);
  });

  it('runs the controller-manager and scheduler: a Deployment gets a ReplicaSet and a Pending pod the scheduler has seen', async () => {
    const deploy = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.9' }] } },
      },
    };
    const t0 = Date.now();
    const r = await cluster.kubectl(['apply', '-f', '-'], { stdin: JSON.stringify(deploy) });
    assert.equal(r.code, 0, r.stderr);
    const rs = await waitFor(
      'a ReplicaSet of deployment web',
      async () => {
        const out = await cluster.kubectl(['get', 'replicasets', '-l', 'app=web', '-o', 'json']);
        const items = (
          JSON.parse(out.stdout || '{"items":[]}') as { items: { metadata: { name: string; ownerReferences?: { kind: string; name: string }[] } }[] }
        ).items;
        return items.find((i) => i.metadata.ownerReferences?.some((o) => o.kind === 'Deployment' && o.name === 'web'));
      },
      60_000,
      500,
    );
    const pod = await waitFor(
      'a pod of the ReplicaSet with PodScheduled set by the scheduler',
      async () => {
        const out = await cluster.kubectl(['get', 'pods', '-l', 'app=web', '-o', 'json']);
        type P = {
          metadata: { name: string; ownerReferences?: { name: string }[] };
          status?: { phase?: string; conditions?: { type: string; status: string; reason?: string }[] };
        };
        const items = (JSON.parse(out.stdout || '{"items":[]}') as { items: P[] }).items;
        return items.find(
          (p) => p.metadata.ownerReferences?.some((o) => o.name === rs.metadata.name) && p.status?.conditions?.some((c) => c.type === 'PodScheduled'),
        );
      },
      60_000,
      500,
    );
    console.log(`# deployment -> replicaset -> scheduled-or-not pod in ${Date.now() - t0} ms`);
    assert.equal(pod.status?.phase, 'Pending');
    const sched = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    assert.deepEqual([sched?.status, sched?.reason], ['False', 'Unschedulable'], 'no node: the scheduler says so');
  });

  it('stops and starts the API server with the same etcd data', async () => {
    const t0 = Date.now();
    await cluster.stopApiServer();
    const t1 = Date.now();
    const down = await cluster.kubectl(['get', '--raw', '/readyz', '--request-timeout=2s']);
    assert.notEqual(down.code, 0, 'API server down');
    assert.match(down.stderr, /refused|timeout|unable to connect/i);
    await cluster.startApiServer();
    const t2 = Date.now();
    console.log(`# kube-apiserver stop ${t1 - t0} ms, start until /readyz ${t2 - t1} ms`);
    const up = await cluster.kubectl(['get', 'deployment', 'web', '-o', 'name']);
    assert.equal(up.code, 0, up.stderr);
    assert.equal(up.stdout.trim(), 'deployment.apps/web', 'objects survive the restart');
  });

  it('hosts a managed containerd in the same namespace: the pod network lives there, not on the host', async () => {
    const fx = await startTestContainerd({ netnsPath: cluster.netnsPath });
    const logs = mkdtempSync(join(tmpdir(), 'kts-cluster-cd-logs-'));
    try {
      const cri = connectCri(fx.containerd.endpoint);
      try {
        const pod = newPod('netns');
        const { podSandboxId } = await cri.RunPodSandbox({ config: sandboxConfig(pod, logs) });
        const st = await cri.PodSandboxStatus({ podSandboxId, verbose: false });
        const podIP = st.status?.network?.ip ?? '';
        const prefix = fx.podSubnet.split('.').slice(0, 3).join('.');
        assert.ok(podIP.startsWith(`${prefix}.`), `pod IP ${podIP} in ${fx.podSubnet}`);
        const hostLinks = execFileSync('ip', ['-br', 'link']).toString();
        assert.equal(hostLinks.includes(fx.containerd.bridgeName), false, 'no CNI bridge on the host');
        const nsLinks = execFileSync('nsenter', [`--net=${cluster.netnsPath}`, 'ip', '-br', 'link']).toString();
        assert.ok(nsLinks.includes(fx.containerd.bridgeName), `CNI bridge ${fx.containerd.bridgeName} inside the namespace:\n${nsLinks}`);
        await cri.StopPodSandbox({ podSandboxId });
        await cri.RemovePodSandbox({ podSandboxId });
      } finally {
        cri.close();
      }
    } finally {
      await fx.close();
      rmSync(logs, { recursive: true, force: true });
    }
  });

  it('stop() kills every process, deletes the namespace and veth, removes the folder', async () => {
    const ns = cluster.netnsPath;
    const pids = pidsIn(ns);
    assert.ok(pids.length >= 4, `etcd, apiserver, controller-manager, scheduler in the namespace: ${pids.join(',')}`);
    const sleeper = cluster.spawnInNetns('sleep', ['3600'], { logFile: join(cluster.dir, 'logs', 'sleep.log') });
    const t0 = Date.now();
    await cluster.stop();
    console.log(`# cluster stop ${Date.now() - t0} ms`);
    assert.equal(existsSync(ns), false, 'namespace deleted');
    assert.equal(existsSync(cluster.dir), false, 'folder removed');
    assert.deepEqual([...pids, sleeper.pid ?? 0].filter(alive), [], 'no process left');
    const veth = `ktsc${ns.slice(-6)}h`;
    assert.equal(execFileSync('ip', ['-br', 'link']).toString().includes(veth), false, `veth ${veth} removed`);
  });
});

describe('test cluster harness when the test process dies', () => {
  const mod = new URL('../helpers/cluster.js', import.meta.url).href;

  /** Runs a child that starts a cluster, prints its namespace and pids, then ends as `how` says. */
  async function orphan(how: 'exit' | 'SIGTERM' | 'SIGKILL'): Promise<{ ns: string; pids: number[]; dir: string; code: number | null; signal: string | null }> {
    const script = `
      import { startTestCluster } from ${JSON.stringify(mod)};
      import { readdirSync, readlinkSync, statSync } from 'node:fs';
      const c = await startTestCluster();
      const ino = statSync(c.netnsPath).ino;
      const pids = readdirSync('/proc').filter((e) => /^\\d+$/.test(e)).filter((e) => { try { return readlinkSync('/proc/' + e + '/ns/net') === 'net:[' + ino + ']'; } catch { return false; } });
      c.spawnInNetns('sleep', ['3600'], { logFile: c.dir + '/logs/sleep.log' });
      process.stdout.write(JSON.stringify({ ns: c.netnsPath, dir: c.dir, pids: pids.map(Number) }) + '\\n', () => {
        ${how === 'exit' ? 'process.exit(3);' : `process.kill(process.pid, '${how}');`}
      });
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.once('close', (c, s) => r([c, s])));
    const line = out.trim().split('\n').pop() ?? '';
    assert.ok(line.startsWith('{'), `child printed its cluster (stderr: ${err})`);
    return { ...(JSON.parse(line) as { ns: string; pids: number[]; dir: string }), code, signal };
  }

  it('exit without stop(): the exit hook kills the processes and deletes namespace and folder', async () => {
    const r = await orphan('exit');
    assert.equal(r.code, 3);
    assert.ok(r.pids.length >= 2, 'etcd and apiserver were in the namespace');
    await waitFor('the processes gone', () => (r.pids.filter(alive).length === 0 ? true : undefined), 5000);
    assert.equal(existsSync(r.ns), false, 'namespace deleted');
    assert.equal(existsSync(r.dir), false, 'folder removed');
  });

  it('SIGTERM: the signal hook cleans up the same way, and the process still dies of the signal', async () => {
    const r = await orphan('SIGTERM');
    assert.equal(r.signal, 'SIGTERM');
    await waitFor('the processes gone', () => (r.pids.filter(alive).length === 0 ? true : undefined), 5000);
    assert.equal(existsSync(r.ns), false, 'namespace deleted');
    assert.equal(existsSync(r.dir), false, 'folder removed');
  });

  it('SIGKILL: the processes die with it (pdeathsig); the next cluster sweeps the namespace and folder', async () => {
    const r = await orphan('SIGKILL');
    assert.equal(r.signal, 'SIGKILL');
    await waitFor('the processes gone', () => (r.pids.filter(alive).length === 0 ? true : undefined), 5000);
    assert.ok(existsSync(r.ns), 'nobody could remove the namespace yet');
    const next = await startTestCluster();
    try {
      assert.equal(existsSync(r.ns), false, 'namespace swept');
      assert.equal(existsSync(r.dir), false, 'folder swept');
    } finally {
      await next.stop();
    }
  });
});
