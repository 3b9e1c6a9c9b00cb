// The kubelet's HTTPS API, started: its serving certificate (given, or self-signed under the
// cert dir), client certificates checked against the client CA, bearer tokens through
// TokenReview and every request authorized through SubjectAccessReview (upstream's delegated
// auth, asked of the API server as this node and cached by TTL), and the separate plain
// /healthz port when configured.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { KubeletConfig } from '../config/kubelet-config.js';
import type { ApiClient } from '../api/client.js';
import { ensureServingCert } from '../native/certs.js';
import { startKubeletServer, type KubeletServer } from '../server/kubelet-server.js';
import { serverAuthFromConfig } from '../server/auth-config.js';
import { serverBackend, type ServerBackendOptions } from './server-backend.js';
import { KubeletStartError } from './runtime.js';

export async function startHttps(d: ServerBackendOptions & { apiClient: ApiClient | undefined; logger: Logger }): Promise<KubeletServer> {
  const cfg: KubeletConfig = d.cfg;
  const log = d.logger;
  const hosts = ['127.0.0.1', 'localhost', ...(cfg.nodeIP ? cfg.nodeIP.split(',') : [])];
  const tls = await ensureServingCert({
    certDir: cfg.certDir,
    nodeName: d.nodeName,
    hosts,
    ...(cfg.tlsCertFile ? { certFile: cfg.tlsCertFile } : {}),
    ...(cfg.tlsPrivateKeyFile ? { keyFile: cfg.tlsPrivateKeyFile } : {}),
  });
  const clientCA = cfg.authentication.x509.clientCAFile ? readFileSync(cfg.authentication.x509.clientCAFile, 'utf8') : undefined;
  let auth: ReturnType<typeof serverAuthFromConfig>;
  try {
    auth = serverAuthFromConfig(cfg, d.apiClient, { logger: log });
  } catch (err) {
    throw new KubeletStartError((err as Error).message);
  }
  const server = await startKubeletServer({
    address: cfg.address,
    port: cfg.port,
    tls: { cert: tls.cert, key: tls.key, ...(clientCA ? { clientCA } : {}) },
    anonymous: cfg.authentication.anonymous.enabled,
    authorizer: auth.authorizer,
    ...(auth.tokens ? { tokens: auth.tokens } : {}),
    ...(cfg.healthzPort > 0 ? { healthz: { address: cfg.healthzBindAddress, port: cfg.healthzPort } } : {}),
    logger: log,
    backend: serverBackend(d),
  });
  log.info({ port: server.port, healthzPort: server.healthzPort }, 'kubelet server listening');
  return server;
}
