// Loads our CRI contract (proto/runtime/v1/api.proto) into @grpc/proto-loader package
// definitions, under either API package: `runtime.v1`, or `runtime.v1alpha2` for older clients
// and runtimes. The two packages carry the same messages with the same field numbers, so
// v1alpha2 is the v1 text with its package line renamed, parsed in memory: no second file
// to drift. The load options must match the flags in scripts/gen-cri-types.mjs.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import type { RpcName } from './api.js';
import { EVENTS_RPC, serviceOf } from './api.js';

export type CriApiVersion = 'v1' | 'v1alpha2';
export const CRI_API_VERSIONS: readonly CriApiVersion[] = ['v1', 'v1alpha2'];

export const LOAD_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Finds the repository (or installed package) root: the nearest folder with proto/runtime. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'proto', 'runtime', 'v1', 'api.proto'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('kubelet-ts: cannot find proto/runtime/v1/api.proto above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

export const CRI_PROTO_PATH = join(packageRoot(), 'proto', 'runtime', 'v1', 'api.proto');

const definitions = new Map<CriApiVersion, protoLoader.PackageDefinition>();

export function criPackageDefinition(version: CriApiVersion = 'v1'): protoLoader.PackageDefinition {
  const cached = definitions.get(version);
  if (cached) return cached;
  let text = readFileSync(CRI_PROTO_PATH, 'utf8');
  if (version !== 'v1') {
    const renamed = text.replace(/^package\s+runtime\.v1\s*;/m, `package runtime.${version};`);
    if (renamed === text) throw new Error(`kubelet-ts: ${CRI_PROTO_PATH} has no 'package runtime.v1;' line`);
    text = renamed;
  }
  const parsed = protobuf.parse(text, { keepCase: LOAD_OPTIONS.keepCase ?? false });
  const def = protoLoader.fromJSON(parsed.root.toJSON(), LOAD_OPTIONS);
  definitions.set(version, def);
  return def;
}

/** The proto-loader method definition of one RPC (path, serializers) under an API version. */
export function criMethod(rpc: RpcName, version: CriApiVersion = 'v1'): protoLoader.MethodDefinition<object, object, object, object> {
  const service = criService(serviceOf(rpc), version);
  const method = service[rpc];
  if (!method) throw new Error(`kubelet-ts: RPC ${rpc} missing from runtime.${version} ${serviceOf(rpc)}`);
  return method;
}

/** The GetContainerEvents (server-streaming) method definition under an API version. */
export function criEventMethod(version: CriApiVersion = 'v1'): protoLoader.MethodDefinition<object, object, object, object> {
  const method = criService('RuntimeService', version)[EVENTS_RPC];
  if (!method) throw new Error(`kubelet-ts: RPC ${EVENTS_RPC} missing from runtime.${version} RuntimeService`);
  return method;
}

/** What a gRPC server without the stream answers (grpc-js's words), for the transports that have no server. */
export const NO_EVENT_STREAM = `unknown method ${EVENTS_RPC} for service runtime.v1.RuntimeService`;

export function criService(name: 'RuntimeService' | 'ImageService', version: CriApiVersion = 'v1'): protoLoader.ServiceDefinition {
  const def = criPackageDefinition(version);
  const service = def[`runtime.${version}.${name}`];
  if (!service || 'format' in service) {
    throw new Error(`kubelet-ts: service runtime.${version}.${name} not found in ${CRI_PROTO_PATH}`);
  }
  return service;
}
