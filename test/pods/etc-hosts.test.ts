// The kubelet-managed /etc/hosts content, as upstream writes it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { managedHostsContent, nodeHostsContent } from '../../src/pods/etc-hosts.js';

const BASE =
  '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n';

describe('managed /etc/hosts', () => {
  it('pod IP and hostname', () => {
    assert.equal(managedHostsContent(['10.88.0.5'], 'web', '', []), `${BASE}10.88.0.5\tweb\n`);
  });
  it('FQDN first with a subdomain, then host aliases', () => {
    const text = managedHostsContent(['10.88.0.5'], 'web', 'sub.ns.svc.cluster.local', [
      { ip: '10.1.2.3', hostnames: ['foo.local', 'bar.local'] },
      { ip: '10.1.2.4', hostnames: ['baz'] },
    ]);
    assert.equal(
      text,
      `${BASE}10.88.0.5\tweb.sub.ns.svc.cluster.local\tweb\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n10.1.2.4\tbaz\n`,
    );
  });
  it('host network variant', () => {
    assert.equal(
      nodeHostsContent('127.0.0.1 localhost\n', [{ ip: '1.2.3.4', hostnames: ['x'] }]),
      '# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n\n# Entries added by HostAliases.\n1.2.3.4\tx\n',
    );
  });
});
