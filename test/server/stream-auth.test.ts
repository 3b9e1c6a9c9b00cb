// Upgrade requests (exec, attach, portForward) are authenticated and authorized exactly as the
// other requests: no credentials 401, a certificate the authorizer refuses 403 with upstream's
// text, subresource proxy and the verb from the method; a stream path without an upgrade is
// 400, and so is an upgrade on any other path. Nothing reaches the backend when refused.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKubeletServer, type KubeletServer, type RequestAttributes } from '../../src/server/kubelet-server.js';
import { call, makePki, minimalBackend, upgradeRequest, readUntil, type Pki } from './fixtures.js';

describe('authentication and authorization of stream upgrades', () => {
  let pki: Pki;
  let server: KubeletServer;
  const seen: RequestAttributes[] = [];
  let resolved = 0;

  before(async () => {
    pki = await makePki();
    server = await startKubeletServer({
      backend: minimalBackend({
        resolveContainer: () => {
          resolved++;
          return Promise.resolve({ error: 'pod default/web not found on this node', status: 404 });
        },
        resolveSandbox: () => Promise.resolve({ error: 'no', status: 404 }),
        streamUrl: () => Promise.reject(new Error('not reached')),
      }),
      address: '127.0.0.1',
      port: 0,
      tls: { ...pki.serving, clientCA: pki.ca },
      anonymous: false,
      authorizer: {
        authorize: (a) => {
          seen.push(a);
          return Promise.resolve({ allowed: a.user.name === 'admin' });
        },
      },
    });
  });

  after(async () => {
    await server.close();
    pki.close();
  });

  it('answers 401 to an upgrade without credentials', async () => {
    const r = await upgradeRequest(server.port, '/exec/default/web/c?command=ls&output=1', { ca: pki.ca });
    assert.equal(r.status, 401);
    assert.equal((await readUntil(r.socket, r.rest, () => false)).toString(), 'Unauthorized\n');
    assert.equal(resolved, 0);
    assert.equal(seen.length, 0);
  });

  it("answers 403 naming the user when the authorizer refuses, with subresource proxy and the method's verb", async () => {
    const r = await upgradeRequest(server.port, '/exec/default/web/c?command=ls&output=1', { ca: pki.ca, who: pki.viewer });
    assert.equal(r.status, 403);
    assert.equal((await readUntil(r.socket, r.rest, () => false)).toString(), 'Forbidden (user=viewer, verb=create, resource=nodes, subresource(s)=[proxy])\n');
    assert.equal(resolved, 0);
    const g = await upgradeRequest(server.port, '/portForward/default/web?port=80', { ca: pki.ca, who: pki.viewer, method: 'GET' });
    assert.equal(g.status, 403);
    assert.deepEqual(
      seen.map((a) => [a.verb, a.subresource, a.path]),
      [
        ['create', 'proxy', '/exec/default/web/c'],
        ['get', 'proxy', '/portForward/default/web'],
      ],
    );
  });

  it('lets an allowed upgrade reach the backend', async () => {
    const r = await upgradeRequest(server.port, '/exec/default/web/c?command=ls&output=1', { ca: pki.ca, who: pki.admin });
    assert.equal(r.status, 404);
    assert.match((await readUntil(r.socket, r.rest, () => false)).toString(), /pod default\/web not found/);
    assert.equal(resolved, 1);
  });

  it('answers 400 to a stream path without an upgrade, and to an upgrade on another path', async () => {
    const plain = await call(server.port, '/exec/default/web/c?command=ls&output=1', { ca: pki.ca, who: pki.admin });
    assert.equal(plain.status, 400);
    assert.match(plain.body, /Upgrade request required/);
    const unauth = await call(server.port, '/exec/default/web/c?command=ls&output=1', { ca: pki.ca });
    assert.equal(unauth.status, 401, 'authentication comes first, as for every path');
    const other = await upgradeRequest(server.port, '/pods', { ca: pki.ca, who: pki.admin, method: 'GET' });
    assert.equal(other.status, 400);
    assert.match((await readUntil(other.socket, other.rest, () => false)).toString(), /only on \/exec, \/attach and \/portForward/);
  });
});
