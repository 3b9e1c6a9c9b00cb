// Service environment variables for a set of services (upstream envvars.FromServices and
// getServiceEnvVarMap, v1.20): names, the Docker link variables, headless and IP-less services
// left out, the master `kubernetes` service in every pod, enableServiceLinks false.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { serviceEnvFor, serviceEnvVars, type ServiceObject, type ServicePort } from '../../src/volumes/service-env.js';

const svc = (namespace: string, name: string, clusterIP: string, ports: ServicePort[]): ServiceObject => ({
  metadata: { namespace, name },
  spec: { clusterIP, ports },
});

const services: ServiceObject[] = [
  svc('default', 'kubernetes', '10.0.0.1', [{ name: 'https', port: 443, protocol: 'TCP' }]),
  svc('shop', 'web-front', '10.0.0.20', [
    { name: 'http', port: 80, protocol: 'TCP' },
    { name: 'metrics-port', port: 9100 },
    { port: 53, protocol: 'UDP', name: 'dns' },
  ]),
  svc('shop', 'db', '10.0.0.30', [{ port: 5432 }]),
  svc('shop', 'headless', 'None', [{ name: 'http', port: 80 }]),
  svc('shop', 'external', '', [{ port: 80 }]),
  svc('other', 'elsewhere', '10.0.0.40', [{ port: 8080 }]),
];

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

describe('service environment variables', () => {
  it('one service with named ports: host, ports, named ports, Docker link variables, in upstream order', () => {
    assert.deepEqual(serviceEnvVars(services[1]!), [
      ['WEB_FRONT_SERVICE_HOST', '10.0.0.20'],
      ['WEB_FRONT_SERVICE_PORT', '80'],
      ['WEB_FRONT_SERVICE_PORT_HTTP', '80'],
      ['WEB_FRONT_SERVICE_PORT_METRICS_PORT', '9100'],
      ['WEB_FRONT_SERVICE_PORT_DNS', '53'],
      ['WEB_FRONT_PORT', 'tcp://10.0.0.20:80'],
      ['WEB_FRONT_PORT_80_TCP', 'tcp://10.0.0.20:80'],
      ['WEB_FRONT_PORT_80_TCP_PROTO', 'tcp'],
      ['WEB_FRONT_PORT_80_TCP_PORT', '80'],
      ['WEB_FRONT_PORT_80_TCP_ADDR', '10.0.0.20'],
      ['WEB_FRONT_PORT_9100_TCP', 'tcp://10.0.0.20:9100'],
      ['WEB_FRONT_PORT_9100_TCP_PROTO', 'tcp'],
      ['WEB_FRONT_PORT_9100_TCP_PORT', '9100'],
      ['WEB_FRONT_PORT_9100_TCP_ADDR', '10.0.0.20'],
      ['WEB_FRONT_PORT_53_UDP', 'udp://10.0.0.20:53'],
      ['WEB_FRONT_PORT_53_UDP_PROTO', 'udp'],
      ['WEB_FRONT_PORT_53_UDP_PORT', '53'],
      ['WEB_FRONT_PORT_53_UDP_ADDR', '10.0.0.20'],
    ]);
    assert.deepEqual(
      serviceEnvVars(svc('x', 'v6', 'fd00::10', [{ port: 80 }])).find(([k]) => k === 'V6_PORT'),
      ['V6_PORT', 'tcp://[fd00::10]:80'],
      'IPv6 in brackets (net.JoinHostPort)',
    );
    assert.deepEqual(serviceEnvVars(services[3]!), [], 'headless: nothing');
    assert.deepEqual(serviceEnvVars(services[4]!), [], 'no cluster IP: nothing');
  });

  it("a pod sees its namespace's services and the master service, nothing of other namespaces", () => {
    assert.deepEqual(serviceEnvFor(services, 'shop', true), {
      DB_SERVICE_HOST: '10.0.0.30',
      DB_SERVICE_PORT: '5432',
      DB_PORT: 'tcp://10.0.0.30:5432',
      DB_PORT_5432_TCP: 'tcp://10.0.0.30:5432',
      DB_PORT_5432_TCP_PROTO: 'tcp',
      DB_PORT_5432_TCP_PORT: '5432',
      DB_PORT_5432_TCP_ADDR: '10.0.0.30',
      ...KUBERNETES,
      ...Object.fromEntries(serviceEnvVars(services[1]!)),
    });
    assert.equal(Object.keys(serviceEnvFor(services, 'shop', true)).length, 7 + 8 + 18);
  });

  it('enableServiceLinks false: only the master service (upstream v1.20 injects it regardless)', () => {
    assert.deepEqual(serviceEnvFor(services, 'shop', false), KUBERNETES);
    assert.deepEqual(serviceEnvFor(services, 'default', false), KUBERNETES);
    assert.deepEqual(serviceEnvFor([], 'shop', true), {}, 'no services listed: nothing');
  });
});
