// The service environment variables (upstream getServiceEnvVarMap + envvars.FromServices, as in
// v1.20): for each Service with a cluster IP (not "None", not empty) that the pod may see,
//   {SVC}_SERVICE_HOST, {SVC}_SERVICE_PORT (first port), {SVC}_SERVICE_PORT_{NAME} (named ports),
//   and the Docker link variables {SVC}_PORT (first port), {SVC}_PORT_{port}_{PROTO} with its
//   _PROTO, _PORT and _ADDR;
// names upper-cased with '-' turned to '_'. Which services: the master service `kubernetes` in
// the master namespace (`default`) always, even with enableServiceLinks false; the services of
// the pod's own namespace only when enableServiceLinks is true (its default).
// Pure: the service list comes in (the service cache on the main thread), a name -> value map out.

export interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
}

/** The part of a core/v1 Service these variables read. */
export interface ServiceObject {
  metadata: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: { clusterIP?: string; ports?: ServicePort[] };
}

export const MASTER_SERVICE_NAMESPACE = 'default';
const MASTER_SERVICES = new Set(['kubernetes']);

function envName(s: string): string {
  return s.replaceAll('-', '_').toUpperCase();
}

function isServiceIPSet(svc: ServiceObject): boolean {
  const ip = svc.spec?.clusterIP ?? '';
  return ip !== '' && ip !== 'None';
}

/** Go's net.JoinHostPort: IPv6 addresses in brackets. */
function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The variables of one service, in upstream's order. */
export function serviceEnvVars(svc: ServiceObject): [string, string][] {
  if (!isServiceIPSet(svc)) return [];
  const ip = svc.spec?.clusterIP ?? '';
  const ports = svc.spec?.ports ?? [];
  const prefix = envName(svc.metadata.name ?? '');
  const out: [string, string][] = [[`${prefix}_SERVICE_HOST`, ip]];
  const first = ports[0];
  // Validation gives every cluster-IP service a port; one without is left at the host variable.
  if (!first) return out;
  out.push([`${prefix}_SERVICE_PORT`, String(first.port)]);
  for (const p of ports) if (p.name) out.push([`${prefix}_SERVICE_PORT_${envName(p.name)}`, String(p.port)]);
  ports.forEach((p, i) => {
    const proto = p.protocol || 'TCP';
    const url = `${proto.toLowerCase()}://${joinHostPort(ip, p.port)}`;
    if (i === 0) out.push([`${prefix}_PORT`, url]);
    const pp = `${prefix}_PORT_${p.port}_${proto.toUpperCase()}`;
    out.push([pp, url], [`${pp}_PROTO`, proto.toLowerCase()], [`${pp}_PORT`, String(p.port)], [`${pp}_ADDR`, ip]);
  });
  return out;
}

/** The service env of a pod in `namespace` (services sorted by name, so the order is stable). */
export function serviceEnvFor(
  services: Iterable<ServiceObject>,
  namespace: string,
  enableServiceLinks: boolean,
  masterNamespace = MASTER_SERVICE_NAMESPACE,
): Record<string, string> {
  const picked = new Map<string, ServiceObject>();
  for (const svc of services) {
    if (!isServiceIPSet(svc)) continue;
    const name = svc.metadata.name ?? '';
    if (svc.metadata.namespace === masterNamespace && MASTER_SERVICES.has(name)) {
      if (!picked.has(name)) picked.set(name, svc);
    } else if (svc.metadata.namespace === namespace && enableServiceLinks) {
      picked.set(name, svc);
    }
  }
  const env: Record<string, string> = {};
  for (const name of [...picked.keys()].sort()) {
    const svc = picked.get(name);
    if (svc) for (const [k, v] of serviceEnvVars(svc)) env[k] = v;
  }
  return env;
}
