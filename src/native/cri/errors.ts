// Typed CRI errors. Every failure a CRI call can end in becomes one of these classes, each with
// a stable `code` that callers switch on (pod workers decide between "retry soon", "back off"
// and "the object is gone" from it). gRPC status codes map one-to-one where CRI runtimes use
// them (containerd answers NotFound for unknown IDs, Unavailable when it is down); what cannot
// be told apart lands in CriRuntimeError with the gRPC code kept.
//
// Errors cross threads as plain objects (`toPlainError` / `fromPlainError`), because structured
// clone (and so comlink) keeps only message and name of an Error and drops `code`.
import { status as GrpcStatus } from '@grpc/grpc-js';

export type CriErrorCode =
  | 'KTS_CRI_NOT_FOUND'
  | 'KTS_CRI_UNAVAILABLE'
  | 'KTS_CRI_DEADLINE_EXCEEDED'
  | 'KTS_CRI_INVALID_ARGUMENT'
  | 'KTS_CRI_ALREADY_EXISTS'
  | 'KTS_CRI_FAILED_PRECONDITION'
  | 'KTS_CRI_UNIMPLEMENTED'
  | 'KTS_CRI_CANCELLED'
  | 'KTS_CRI_RESOURCE_EXHAUSTED'
  | 'KTS_CRI_RUNTIME_ERROR'
  | 'KTS_CRI_BAD_ENDPOINT';

export interface CriErrorInit {
  /** CRI operation in upstream metric spelling, e.g. `run_podsandbox`; '' when not tied to a call. */
  operation?: string;
  /** The gRPC status code the runtime answered with, when there was one. */
  grpcCode?: number;
  cause?: unknown;
}

export abstract class CriError extends Error {
  abstract readonly code: CriErrorCode;
  readonly operation: string;
  readonly grpcCode: number | undefined;

  constructor(message: string, init: CriErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.operation = init.operation ?? '';
    this.grpcCode = init.grpcCode;
  }

  /** True when the same call may succeed later without any change by the caller. */
  get retryable(): boolean {
    return false;
  }
}

/** The sandbox, container or image named in the request does not exist. */
export class CriNotFoundError extends CriError {
  override readonly name = 'CriNotFoundError';
  readonly code = 'KTS_CRI_NOT_FOUND';
}

/** The runtime cannot be reached (socket missing, process down, restarting). */
export class CriUnavailableError extends CriError {
  override readonly name = 'CriUnavailableError';
  readonly code = 'KTS_CRI_UNAVAILABLE';
  override get retryable(): boolean {
    return true;
  }
}

/** The call did not finish within its deadline (the runtime request timeout by default). */
export class CriDeadlineError extends CriError {
  override readonly name = 'CriDeadlineError';
  readonly code = 'KTS_CRI_DEADLINE_EXCEEDED';
  override get retryable(): boolean {
    return true;
  }
}

/** The request was malformed: missing config, bad field values. Retrying it will not help. */
export class CriInvalidArgumentError extends CriError {
  override readonly name = 'CriInvalidArgumentError';
  readonly code = 'KTS_CRI_INVALID_ARGUMENT';
}

/** A name is already reserved (e.g. a sandbox or container with the same metadata and attempt). */
export class CriAlreadyExistsError extends CriError {
  override readonly name = 'CriAlreadyExistsError';
  readonly code = 'KTS_CRI_ALREADY_EXISTS';
}

/** The object is in a state that does not allow the operation (start of a running container). */
export class CriFailedPreconditionError extends CriError {
  override readonly name = 'CriFailedPreconditionError';
  readonly code = 'KTS_CRI_FAILED_PRECONDITION';
}

/** The runtime does not implement this RPC (or this API version). */
export class CriUnimplementedError extends CriError {
  override readonly name = 'CriUnimplementedError';
  readonly code = 'KTS_CRI_UNIMPLEMENTED';
}

/** The caller cancelled the call. */
export class CriCancelledError extends CriError {
  override readonly name = 'CriCancelledError';
  readonly code = 'KTS_CRI_CANCELLED';
}

/** The runtime refused for lack of resources, or a message was over the size limit. */
export class CriResourceExhaustedError extends CriError {
  override readonly name = 'CriResourceExhaustedError';
  readonly code = 'KTS_CRI_RESOURCE_EXHAUSTED';
  override get retryable(): boolean {
    return true;
  }
}

/** Any other failure reported by the runtime (gRPC Unknown, Internal, ...). */
export class CriRuntimeError extends CriError {
  override readonly name = 'CriRuntimeError';
  readonly code = 'KTS_CRI_RUNTIME_ERROR';
}

/** The configured endpoint is not something we can dial (we speak CRI over unix sockets). */
export class CriBadEndpointError extends CriError {
  override readonly name = 'CriBadEndpointError';
  readonly code = 'KTS_CRI_BAD_ENDPOINT';
}

type CriErrorClass = new (message: string, init?: CriErrorInit) => CriError;

const BY_CODE: Record<CriErrorCode, CriErrorClass> = {
  KTS_CRI_NOT_FOUND: CriNotFoundError,
  KTS_CRI_UNAVAILABLE: CriUnavailableError,
  KTS_CRI_DEADLINE_EXCEEDED: CriDeadlineError,
  KTS_CRI_INVALID_ARGUMENT: CriInvalidArgumentError,
  KTS_CRI_ALREADY_EXISTS: CriAlreadyExistsError,
  KTS_CRI_FAILED_PRECONDITION: CriFailedPreconditionError,
  KTS_CRI_UNIMPLEMENTED: CriUnimplementedError,
  KTS_CRI_CANCELLED: CriCancelledError,
  KTS_CRI_RESOURCE_EXHAUSTED: CriResourceExhaustedError,
  KTS_CRI_RUNTIME_ERROR: CriRuntimeError,
  KTS_CRI_BAD_ENDPOINT: CriBadEndpointError,
};

const GRPC_TO_CODE = new Map<number, CriErrorCode>([
  [GrpcStatus.NOT_FOUND, 'KTS_CRI_NOT_FOUND'],
  [GrpcStatus.UNAVAILABLE, 'KTS_CRI_UNAVAILABLE'],
  [GrpcStatus.DEADLINE_EXCEEDED, 'KTS_CRI_DEADLINE_EXCEEDED'],
  [GrpcStatus.INVALID_ARGUMENT, 'KTS_CRI_INVALID_ARGUMENT'],
  [GrpcStatus.OUT_OF_RANGE, 'KTS_CRI_INVALID_ARGUMENT'],
  [GrpcStatus.ALREADY_EXISTS, 'KTS_CRI_ALREADY_EXISTS'],
  [GrpcStatus.FAILED_PRECONDITION, 'KTS_CRI_FAILED_PRECONDITION'],
  [GrpcStatus.UNIMPLEMENTED, 'KTS_CRI_UNIMPLEMENTED'],
  [GrpcStatus.CANCELLED, 'KTS_CRI_CANCELLED'],
  [GrpcStatus.RESOURCE_EXHAUSTED, 'KTS_CRI_RESOURCE_EXHAUSTED'],
]);

const CODE_TO_GRPC: Record<CriErrorCode, number> = {
  KTS_CRI_NOT_FOUND: GrpcStatus.NOT_FOUND,
  KTS_CRI_UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  KTS_CRI_DEADLINE_EXCEEDED: GrpcStatus.DEADLINE_EXCEEDED,
  KTS_CRI_INVALID_ARGUMENT: GrpcStatus.INVALID_ARGUMENT,
  KTS_CRI_ALREADY_EXISTS: GrpcStatus.ALREADY_EXISTS,
  KTS_CRI_FAILED_PRECONDITION: GrpcStatus.FAILED_PRECONDITION,
  KTS_CRI_UNIMPLEMENTED: GrpcStatus.UNIMPLEMENTED,
  KTS_CRI_CANCELLED: GrpcStatus.CANCELLED,
  KTS_CRI_RESOURCE_EXHAUSTED: GrpcStatus.RESOURCE_EXHAUSTED,
  KTS_CRI_RUNTIME_ERROR: GrpcStatus.UNKNOWN,
  KTS_CRI_BAD_ENDPOINT: GrpcStatus.INVALID_ARGUMENT,
};

/** The gRPC status a server should answer with for this error (used by the sim server). */
export function grpcCodeOf(err: CriError): number {
  return err.grpcCode ?? CODE_TO_GRPC[err.code];
}

export function isCriError(err: unknown): err is CriError {
  return err instanceof CriError;
}

interface GrpcLikeError {
  code: number;
  details?: string;
  message?: string;
}

function isGrpcLike(err: unknown): err is GrpcLikeError {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number';
}

/** How grpc-js words a request that cannot be serialized (the in-process transport says the same). */
export const REQUEST_SERIALIZATION_FAILURE = 'Request message serialization failure';

/**
 * Turns whatever a call failed with into a CriError. gRPC errors keep their status code and
 * the runtime's own words (`details`), prefixed with the operation so a log line says which call.
 */
export function toCriError(err: unknown, operation: string): CriError {
  if (err instanceof CriError) return err;
  if (isGrpcLike(err)) {
    const details = err.details ?? err.message ?? '';
    // grpc-js reports a request it cannot encode (a field of the wrong type) as INTERNAL
    // before anything is sent: that is the caller's malformed request, not a runtime failure.
    const malformed = err.code === (GrpcStatus.INTERNAL as number) && details.startsWith(REQUEST_SERIALIZATION_FAILURE);
    const code = malformed ? 'KTS_CRI_INVALID_ARGUMENT' : (GRPC_TO_CODE.get(err.code) ?? 'KTS_CRI_RUNTIME_ERROR');
    const statusName = GrpcStatus[err.code] ?? String(err.code);
    const Cls = BY_CODE[code];
    return new Cls(`CRI ${operation} failed (${statusName}): ${details}`, {
      operation,
      grpcCode: err.code,
      cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new CriRuntimeError(`CRI ${operation} failed: ${message}`, { operation, cause: err });
}

/** The structured-clone-safe form of a CriError, for crossing threads and the bus. */
export interface PlainCriError {
  kind: 'CriError';
  code: CriErrorCode;
  message: string;
  operation: string;
  grpcCode?: number;
  stack?: string;
}

export function toPlainError(err: CriError): PlainCriError {
  const plain: PlainCriError = { kind: 'CriError', code: err.code, message: err.message, operation: err.operation };
  if (err.grpcCode !== undefined) plain.grpcCode = err.grpcCode;
  if (err.stack !== undefined) plain.stack = err.stack;
  return plain;
}

export function fromPlainError(plain: PlainCriError): CriError {
  const Cls = BY_CODE[plain.code] ?? CriRuntimeError;
  const init: CriErrorInit = { operation: plain.operation };
  if (plain.grpcCode !== undefined) init.grpcCode = plain.grpcCode;
  const err = new Cls(plain.message, init);
  if (plain.stack !== undefined) err.stack = plain.stack;
  return err;
}

/** Builds a CriError of the kind named by `code` (used by the simulated runtime). */
export function criError(code: CriErrorCode, message: string, init: CriErrorInit = {}): CriError {
  return new BY_CODE[code](message, init);
}

/**
 * The CriError a runtime answering with this gRPC status would produce (keeps the status, so a
 * server sends exactly it). Used by the simulated runtime's fault injection.
 */
export function criErrorFromGrpc(grpcCode: number, message: string): CriError {
  const Cls = BY_CODE[GRPC_TO_CODE.get(grpcCode) ?? 'KTS_CRI_RUNTIME_ERROR'];
  return new Cls(message, { grpcCode });
}
