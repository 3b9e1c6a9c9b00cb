// ApiVolumeObjectSource on the project's API client against a real HTTP server on port 0:
// the paths, 404 as "not found", the TokenRequest body, other failures thrown.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiClient } from '../../src/api/client.js';
import { ApiVolumeObjectSource } from '../../src/volumes/objects.js';

describe('API object source', () => {
  let server: Server;
  let client: ApiClient;
  const seen: { method: string; url: string; body: string }[] = [];

  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', body });
        const json = (status: number, o: unknown): void => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(o));
        };
        if (req.url === '/api/v1/namespaces/ns1/secrets/db') return json(200, { kind: 'Secret', data: { pw: 'cHc=' } });
        if (req.url === '/api/v1/namespaces/ns1/configmaps/cfg') return json(200, { kind: 'ConfigMap', data: { a: '1' }, binaryData: { b: 'AA==' } });
        if (req.url === '/api/v1/namespaces/ns1/serviceaccounts/builder/token' && req.method === 'POST')
          return json(201, { kind: 'TokenRequest', status: { token: 'jwt', expirationTimestamp: '2030-01-01T00:00:00Z' } });
        if (req.url?.includes('/forbidden'))
          return json(403, { kind: 'Status', code: 403, reason: 'Forbidden', message: 'no relationship found between node and this object' });
        return json(404, { kind: 'Status', code: 404, reason: 'NotFound', message: 'not found' });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    client = new ApiClient({ server: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }, { qps: 100, burst: 100 });
  });
  after(async () => {
    client.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('reads secrets and configMaps, 404 as undefined', async () => {
    const src = new ApiVolumeObjectSource(client);
    assert.deepEqual((await src.getSecret('ns1', 'db'))?.data, { pw: 'cHc=' });
    assert.deepEqual(await src.getConfigMap('ns1', 'cfg'), { kind: 'ConfigMap', data: { a: '1' }, binaryData: { b: 'AA==' } });
    assert.equal(await src.getSecret('ns1', 'missing'), undefined);
    assert.equal(await src.getConfigMap('ns1', 'missing'), undefined);
    await assert.rejects(src.getSecret('ns1', 'forbidden'), (e: unknown) => (e as { code?: string }).code === 'KTS_API_FORBIDDEN');
  });

  it('requests tokens with a TokenRequest bound to the pod', async () => {
    const src = new ApiVolumeObjectSource(client);
    const t = await src.requestToken('ns1', 'builder', { audiences: ['api'], expirationSeconds: 600, boundPod: { name: 'p', uid: 'u' } });
    assert.deepEqual(t, { token: 'jwt', expirationTimestamp: '2030-01-01T00:00:00Z' });
    const req = seen.find((s) => s.method === 'POST');
    assert.deepEqual(JSON.parse(req?.body ?? '{}'), {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences: ['api'], expirationSeconds: 600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p', uid: 'u' } },
    });
  });
});
