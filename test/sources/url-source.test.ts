// The manifest URL source against a real HTTP server on loopback: headers sent, pods read,
// failures keep the current set, an empty body empties it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UrlSource } from '../../src/sources/url-source.js';
import type { SourceSnapshot } from '../../src/sources/file-source.js';

describe('manifest URL source', () => {
  let server: Server;
  let url: string;
  let status = 200;
  let body = '';
  let lastHeader: string | undefined;

  before(async () => {
    server = createServer((req, res) => {
      lastHeader = req.headers['x-token'] as string | undefined;
      res.statusCode = status;
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pods`;
  });

  after(() => new Promise<void>((r) => server.close(() => r())));

  it('reads pods with headers, keeps them on failure, empties on an empty body', async () => {
    const got: SourceSnapshot[] = [];
    const src = new UrlSource({ url, headers: { 'x-token': 'abc' }, nodeName: 'n1', onSnapshot: (s) => got.push(s) });
    body = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'u' }, spec: { containers: [{ name: 'c', image: 'i:1' }] } });
    await src.poll();
    assert.equal(lastHeader, 'abc');
    assert.deepEqual(
      got.map((s) => s.pods.map((p) => p.metadata.name)),
      [['u-n1']],
    );
    assert.equal(got[0]!.pods[0]!.metadata.annotations?.['kubernetes.io/config.source'], 'http');
    await src.poll();
    assert.equal(got.length, 1, 'an unchanged body emits nothing');
    status = 500;
    await src.poll();
    body = 'a: [1,';
    status = 200;
    await src.poll();
    assert.equal(got.length, 1, 'a failed fetch or an unparsable body keeps the current pods');
    body = '';
    await src.poll();
    assert.deepEqual(got[1]!.pods, [], 'an empty body is an empty set');
    assert.throws(() => new UrlSource({ url: 'file:///etc/passwd', nodeName: 'n', onSnapshot: () => undefined }), /must be http\(s\)/);
  });
});
