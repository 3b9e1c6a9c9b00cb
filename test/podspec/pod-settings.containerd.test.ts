// Pod settings on real containerd: the kubelet-managed /etc/hosts (pod IP, hostname or FQDN,
// hostAliases), hostname/subdomain/setHostnameAsFQDN, resolv.conf for each dnsPolicy
// (ClusterFirst with --cluster-dns, Default, None with dnsConfig), the host namespaces
// (hostNetwork, hostPID, hostIPC: the container's namespace links equal the test process's),
// and a hostPort reached on 127.0.0.1 through containerd's portmap CNI plugin.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { request } from 'node:http';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { startStaticNode, type StaticNode } from '../helpers/static-node.js';
import { waitFor } from '../helpers/cri-fixtures.js';
import { freePort } from '../helpers/net.js';

const HOSTS_BASE =
  '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n';

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

describe('pod settings on containerd', () => {
  let node: StaticNode;
  const sleeper = { command: ['sh', '-c', 'sleep 3600'] };
  const running = (name: string): Promise<unknown> =>
    node.waitStatus(name, 'Running', (s) => s.phase === 'Running' && (s.containerStatuses ?? []).every((c) => c.ready));
  const hostResolv = readFileSync('/etc/resolv.conf', 'utf8');
  const hostServers = [...hostResolv.matchAll(/^nameserver\s+(\S+)/gm)].map((m) => m[1]);
  const hostSearch = /^search\s+(.*)$/m.exec(hostResolv)?.[1]?.trim().split(/\s+/) ?? [];
  before(async () => {
    node = await startStaticNode({ runtime: 'containerd', args: ['--cluster-dns', '10.0.0.10', '--cluster-domain', 'cluster.local'] });
  });
  after(async () => {
    await node?.close();
  });

  it('writes the managed /etc/hosts with the pod IP, the FQDN and the host aliases', async () => {
    node.writePod('hosts', {
      hostname: 'web',
      subdomain: 'sub',
      hostAliases: [{ ip: '10.1.2.3', hostnames: ['foo.local', 'bar.local'] }],
      containers: [
        { name: 'a', ...sleeper },
        { name: 'b', ...sleeper },
      ],
    });
    await running('hosts');
    const ip = node.status('hosts')?.podIP ?? '';
    assert.match(ip, /^10\./);
    const want = `${HOSTS_BASE}${ip}\tweb.sub.default.svc.cluster.local\tweb\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n`;
    assert.equal((await node.exec('hosts', 'a', ['cat', '/etc/hosts'])).stdout, want);
    assert.equal((await node.exec('hosts', 'b', ['cat', '/etc/hosts'])).stdout, want);
    const uid = node.pod('hosts')?.metadata.uid ?? '';
    const file = join(node.dir, 'root', 'pods', uid, 'etc-hosts');
    assert.equal(readFileSync(file, 'utf8'), want);
    assert.equal((await node.exec('hosts', 'a', ['hostname'])).stdout, 'web\n');
    node.removePod('hosts');
    await waitFor('etc-hosts removed with the pod', () => (existsSync(file) ? undefined : true), 60_000, 200);
  });

  it('hostname: the pod name, and the FQDN with setHostnameAsFQDN', async () => {
    node.writePod('named', { containers: [{ name: 'c', ...sleeper }] });
    node.writePod('fqdn', { hostname: 'db', subdomain: 'sub', setHostnameAsFQDN: true, containers: [{ name: 'c', ...sleeper }] });
    await running('named');
    await running('fqdn');
    assert.equal((await node.exec('named', 'c', ['hostname'])).stdout, `named-${node.nodeName}\n`);
    assert.equal((await node.exec('fqdn', 'c', ['hostname'])).stdout, 'db.sub.default.svc.cluster.local\n');
    const ip = node.status('named')?.podIP ?? '';
    assert.equal((await node.exec('named', 'c', ['cat', '/etc/hosts'])).stdout, `${HOSTS_BASE}${ip}\tnamed-${node.nodeName}\n`);
  });

  it('resolv.conf for ClusterFirst (--cluster-dns), Default and None with dnsConfig', async () => {
    node.writePod('dns-cluster', { containers: [{ name: 'c', ...sleeper }] });
    node.writePod('dns-default', { dnsPolicy: 'Default', containers: [{ name: 'c', ...sleeper }] });
    node.writePod('dns-none', {
      dnsPolicy: 'None',
      dnsConfig: {
        nameservers: ['1.2.3.4'],
        searches: ['ns1.svc.cluster-domain.example', 'my.dns.search.suffix'],
        options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }],
      },
      containers: [{ name: 'c', ...sleeper }],
    });
    for (const p of ['dns-cluster', 'dns-default', 'dns-none']) await running(p);
    const resolv = async (p: string): Promise<string> => (await node.exec(p, 'c', ['cat', '/etc/resolv.conf'])).stdout;
    assert.equal(
      await resolv('dns-cluster'),
      `search ${['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local', ...hostSearch].join(' ')}\nnameserver 10.0.0.10\noptions ndots:5\n`,
    );
    const def = await resolv('dns-default');
    assert.equal(def, `${hostSearch.length ? `search ${hostSearch.join(' ')}\n` : ''}${hostServers.map((s) => `nameserver ${s}\n`).join('')}`);
    assert.equal(await resolv('dns-none'), 'search ns1.svc.cluster-domain.example my.dns.search.suffix\nnameserver 1.2.3.4\noptions ndots:2 edns0\n');
  });

  it("hostNetwork, hostPID and hostIPC share the node's namespaces; a plain pod has its own", async () => {
    node.writePod('host-ns', {
      hostNetwork: true,
      hostPID: true,
      hostIPC: true,
      hostAliases: [{ ip: '10.9.9.9', hostnames: ['alias.local'] }],
      containers: [{ name: 'c', ...sleeper }],
    });
    node.writePod('own-ns', { containers: [{ name: 'c', ...sleeper }] });
    await running('host-ns');
    await running('own-ns');
    const ns = async (p: string, kind: string): Promise<string> => (await node.exec(p, 'c', ['readlink', `/proc/self/ns/${kind}`])).stdout.trim();
    for (const kind of ['net', 'pid', 'ipc']) {
      assert.equal(await ns('host-ns', kind), readlinkSync(`/proc/self/ns/${kind}`), kind);
      assert.notEqual(await ns('own-ns', kind), readlinkSync(`/proc/self/ns/${kind}`), kind);
    }
    // hostPID: this test process is visible; hostNetwork: the node's hostname, the status has the node IP.
    assert.equal((await node.exec('host-ns', 'c', ['sh', '-c', `test -d /proc/${process.pid} && echo seen`])).stdout, 'seen\n');
    assert.equal((await node.exec('own-ns', 'c', ['sh', '-c', `test -d /proc/${process.pid} && echo seen || echo hidden`])).stdout, 'hidden\n');
    assert.equal((await node.exec('host-ns', 'c', ['hostname'])).stdout, `${hostname()}\n`);
    // The host network's managed hosts file: the node's own, under upstream's header, plus the aliases.
    assert.equal(
      (await node.exec('host-ns', 'c', ['cat', '/etc/hosts'])).stdout,
      `# Kubernetes-managed hosts file (host network).\n${readFileSync('/etc/hosts', 'utf8')}\n# Entries added by HostAliases.\n10.9.9.9\talias.local\n`,
    );
  });

  it('maps a hostPort to the container (portmap CNI) and serves on 127.0.0.1', async () => {
    const hostPort = await freePort();
    node.writePod('web', {
      containers: [
        {
          name: 'httpd',
          command: ['sh', '-c', 'mkdir -p /www && echo hello-from-pod > /www/index.html && httpd -f -p 8080 -h /www'],
          ports: [{ containerPort: 8080, hostPort, protocol: 'TCP' }],
        },
      ],
    });
    await running('web');
    const body = await waitFor(
      'hostPort answers',
      () =>
        httpGet(hostPort).then(
          (b) => b,
          () => undefined,
        ),
      30_000,
      250,
    );
    assert.equal(body, 'hello-from-pod\n');
  });
});
