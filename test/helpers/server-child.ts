// The kubelet HTTPS server alone in a child process, for tests that need the process's own
// environment (NODE_EXTRA_CA_CERTS) or must see it die. Configured by KTS_SERVER_CHILD (JSON:
// cert, key, clientCA?, anonymous); prints {"port":N,"healthzPort":M} on stdout once listening.
import { startKubeletServer } from '../../src/server/kubelet-server.js';
import { alwaysAllow } from '../../src/server/kubelet-server.js';
import { minimalBackend } from '../server/fixtures.js';

const cfg = JSON.parse(process.env['KTS_SERVER_CHILD'] ?? '{}') as { cert: string; key: string; clientCA?: string; anonymous?: boolean };
const server = await startKubeletServer({
  backend: minimalBackend({ pods: () => [{ metadata: { name: 'secret-pod', namespace: 'default' }, spec: { containers: [] } }] }),
  address: '127.0.0.1',
  port: 0,
  tls: { cert: cfg.cert, key: cfg.key, ...(cfg.clientCA ? { clientCA: cfg.clientCA } : {}) },
  anonymous: cfg.anonymous ?? false,
  authorizer: alwaysAllow,
  healthz: { address: '127.0.0.1', port: 0 },
});
process.stdout.write(`${JSON.stringify({ port: server.port, healthzPort: server.healthzPort })}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
