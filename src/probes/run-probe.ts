// Runs one probe attempt by its handler and classifies it as upstream's prober does: exec
// through CRI ExecSync (exit 0 success; the timeout is a failure `command "..." timed out`),
// httpGet, tcpSocket and grpc against the pod. Never throws: a runtime error (the container is
// gone, the runtime is down) is `unknown`, which the scheduler throws away as upstream does.
import type { CriClient } from '../native/cri/client.js';
import { isCriError } from '../native/cri/errors.js';
import { grpcHealthAction } from './grpc-health.js';
import { prepareHttpGet, runHttpGet, type PreparedHttpGet } from './http-get.js';
import type { ProbeHandler, ProbeOutcome } from './spec.js';
import { tcpSocketAction } from './tcp-socket.js';

export interface ProbeDeps {
  /** Only exec probes need the runtime. */
  cri?: CriClient;
  /** For the kube-probe User-Agent. */
  version?: string;
}

/** Extra time the CRI call gets past the probe timeout before the client gives up on the runtime. */
const EXEC_CALL_SLACK_MS = 2000;

/** stdout then stderr as one string; nothing to join for the usual probe that prints nothing. */
function outputOf(stdout: Uint8Array | undefined, stderr: Uint8Array | undefined): string {
  const o = stdout?.length ?? 0;
  const e = stderr?.length ?? 0;
  if (o === 0 && e === 0) return '';
  return Buffer.concat([Buffer.from(stdout ?? []), Buffer.from(stderr ?? [])]).toString('utf8');
}

export async function execProbe(cri: CriClient, containerId: string, command: string[], timeoutMs: number): Promise<ProbeOutcome> {
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  try {
    const r = await cri.ExecSync({ containerId, cmd: command, timeout: seconds }, { timeoutMs: seconds * 1000 + EXEC_CALL_SLACK_MS });
    // Upstream hands back stdout then stderr, as one output.
    const output = outputOf(r.stdout, r.stderr);
    return { result: r.exitCode === 0 ? 'success' : 'failure', message: output };
  } catch (err) {
    if (isCriError(err) && err.code === 'KTS_CRI_DEADLINE_EXCEEDED')
      return { result: 'failure', message: `command ${JSON.stringify(command.join(' '))} timed out` };
    return { result: 'unknown', message: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * httpGet targets made ready once per handler: a handler object lives as long as its probe's
 * spec (a new target from the main thread brings new objects), so the URL, headers and request
 * bytes are built once per spec, not once per probe.
 */
const prepared = new WeakMap<ProbeHandler, { version: string | undefined; p: PreparedHttpGet }>();

function preparedHttpGet(handler: Extract<ProbeHandler, { type: 'httpGet' }>, version: string | undefined): PreparedHttpGet {
  const hit = prepared.get(handler);
  if (hit && hit.version === version) return hit.p;
  const p = prepareHttpGet(
    { host: handler.host, port: handler.port, path: handler.path, scheme: handler.scheme, headers: handler.headers },
    version ? { version } : {},
  );
  prepared.set(handler, { version, p });
  return p;
}

export async function runProbe(handler: ProbeHandler, containerId: string, timeoutMs: number, deps: ProbeDeps): Promise<ProbeOutcome> {
  switch (handler.type) {
    case 'exec':
      if (!deps.cri) return { result: 'unknown', message: 'no container runtime to exec in' };
      return execProbe(deps.cri, containerId, handler.command, timeoutMs);
    case 'httpGet':
      return runHttpGet(preparedHttpGet(handler, deps.version), timeoutMs);
    case 'tcpSocket':
      return tcpSocketAction(handler.host, handler.port, timeoutMs);
    case 'grpc':
      return grpcHealthAction(handler.host, handler.port, handler.service, timeoutMs, deps.version ? { version: deps.version } : {});
    case 'invalid':
      return { result: 'unknown', message: handler.message };
  }
}
