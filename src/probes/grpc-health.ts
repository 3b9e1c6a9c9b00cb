// One grpc check, as upstream's gRPC prober: connect (plaintext, User-Agent kube-probe/x.y)
// within the timeout, call grpc.health.v1.Health/Check with the optional service name, and
// succeed only on SERVING. The two messages of the health protocol are tiny, so they are
// encoded here by hand (field 1 of each) rather than loading a .proto at run time; the same
// codec serves the health server that tests and the benchmark run.
import * as grpc from '@grpc/grpc-js';
import { isIPv6 } from 'node:net';
import { goDuration } from './go-duration.js';
import { probeUserAgent } from './http-get.js';

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
export const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
export type ServingStatus = (typeof SERVING_STATUS)[number];

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

function readVarint(b: Buffer, at: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  let i = at;
  for (; i < b.length; i++) {
    const byte = b[i] ?? 0;
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
  }
  throw new Error('truncated varint');
}

/** Walks the fields of a message; calls `onField(number, wireType, value)` for varints and bytes. */
function fields(b: Buffer, onField: (field: number, value: number | Buffer) => void): void {
  let i = 0;
  while (i < b.length) {
    const tag = readVarint(b, i);
    i = tag.next;
    const field = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    if (wire === 0) {
      const v = readVarint(b, i);
      i = v.next;
      onField(field, v.value);
    } else if (wire === 2) {
      const len = readVarint(b, i);
      const start = len.next;
      onField(field, b.subarray(start, start + len.value));
      i = start + len.value;
    } else if (wire === 5) i += 4;
    else if (wire === 1) i += 8;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

export const healthCodec = {
  encodeRequest(service: string): Buffer {
    if (service === '') return Buffer.alloc(0);
    const s = Buffer.from(service, 'utf8');
    return Buffer.concat([Buffer.from([0x0a]), varint(s.length), s]);
  },
  decodeRequest(b: Buffer): { service: string } {
    let service = '';
    fields(b, (f, v) => {
      if (f === 1 && Buffer.isBuffer(v)) service = v.toString('utf8');
    });
    return { service };
  },
  encodeResponse(status: ServingStatus): Buffer {
    const n = SERVING_STATUS.indexOf(status);
    return n <= 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x08]), varint(n)]);
  },
  decodeResponse(b: Buffer): { status: number } {
    let status = 0;
    fields(b, (f, v) => {
      if (f === 1 && typeof v === 'number') status = v;
    });
    return { status };
  },
};

/** A service definition for grpc-js servers (tests, the benchmark): `server.addService(healthServiceDefinition, {Check})`. */
export const healthServiceDefinition: grpc.ServiceDefinition = {
  Check: {
    path: HEALTH_CHECK_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: Buffer) => v,
    requestDeserialize: (b: Buffer) => healthCodec.decodeRequest(b),
    responseSerialize: (v: { status: ServingStatus }) => healthCodec.encodeResponse(v.status),
    responseDeserialize: (b: Buffer) => b,
  },
};

export interface GrpcHealthResult {
  result: 'success' | 'failure';
  message: string;
}

function statusName(n: number): string {
  return SERVING_STATUS[n] ?? String(n);
}

export function grpcHealthAction(host: string, port: number, service: string, timeoutMs: number, opts: { version?: string } = {}): Promise<GrpcHealthResult> {
  const addr = `${isIPv6(host) ? `[${host}]` : host}:${port}`;
  const timeout = goDuration(timeoutMs);
  const deadline = Date.now() + Math.max(1, timeoutMs);
  let client: grpc.Client;
  try {
    client = new grpc.Client(addr, grpc.credentials.createInsecure(), {
      'grpc.primary_user_agent': probeUserAgent(opts.version),
      // One attempt per probe: no retries or keep-alive pings across probes.
      'grpc.enable_retries': 0,
    });
  } catch (err) {
    return Promise.resolve({ result: 'failure', message: `error: failed to connect service at "${addr}": ${(err as Error).message}` });
  }
  return new Promise<GrpcHealthResult>((resolve) => {
    client.waitForReady(deadline, (err) => {
      if (err) {
        resolve({ result: 'failure', message: `timeout: failed to connect service "${addr}" within ${timeout}: context deadline exceeded` });
        return;
      }
      client.makeUnaryRequest(
        HEALTH_CHECK_PATH,
        (b: Buffer) => b,
        (b: Buffer) => healthCodec.decodeResponse(b),
        healthCodec.encodeRequest(service),
        new grpc.Metadata(),
        { deadline },
        (callErr, resp) => {
          if (callErr) {
            if (callErr.code === grpc.status.UNIMPLEMENTED)
              resolve({ result: 'failure', message: `this server does not implement the grpc health protocol (grpc.health.v1.Health): ${callErr.details}` });
            else if (callErr.code === grpc.status.DEADLINE_EXCEEDED)
              resolve({ result: 'failure', message: `timeout: health rpc did not complete within ${timeout}` });
            else
              resolve({
                result: 'failure',
                message: `error: health rpc probe failed: rpc error: code = ${grpcCodeName(callErr.code)} desc = ${callErr.details}`,
              });
            return;
          }
          const status = resp?.status ?? 0;
          if (status !== 1) resolve({ result: 'failure', message: `service unhealthy (responded with "${statusName(status)}")` });
          else resolve({ result: 'success', message: 'service healthy' });
        },
      );
    });
  }).finally(() => client.close());
}

/** Go's codes.Code String(): "Unavailable", "NotFound", ... */
function grpcCodeName(code: number): string {
  const name = grpc.status[code] ?? String(code);
  return name
    .toLowerCase()
    .split('_')
    .map((p) => (p === '' ? '' : (p[0] ?? '').toUpperCase() + p.slice(1)))
    .join('');
}
