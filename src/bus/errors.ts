// Bus errors: one class, one stable `code` per failure kind, so callers switch on the code and
// never on message text. Errors that cross a thread or a bridge travel as plain data
// (PlainError) and come back as a BusError with code KTS_BUS_REMOTE carrying the responder's own
// code in `remoteCode` (structured clone and comlink both drop custom properties of Errors).

export type BusErrorCode =
  /** A request got no reply within its timeout. */
  | 'KTS_BUS_TIMEOUT'
  /** No responder for the request name anywhere the bus can reach. */
  | 'KTS_BUS_NO_RESPONDER'
  /** The responder threw or rejected; see `remoteCode`. */
  | 'KTS_BUS_REMOTE'
  /** The bus was closed (pending requests are rejected with this). */
  | 'KTS_BUS_CLOSED'
  /** An envelope from another thread or a bridge failed validation; see `reason`. */
  | 'KTS_BUS_INVALID_ENVELOPE'
  /** A fault-injection rule or a subscription option is out of range. */
  | 'KTS_BUS_INVALID_CONFIG'
  /** A request body does not match its schema (requests.ts); the handler never saw it. */
  | 'KTS_BUS_INVALID_REQUEST';

/** Why an inbound envelope was refused: stable values, used as the metric label. */
export type RejectReason =
  | 'not-object'
  | 'version'
  | 'id'
  | 'topic'
  | 'unknown-topic'
  | 'source'
  | 'ts'
  | 'corr'
  | 'message'
  | 'message-type'
  | 'message-field'
  | 'unclonable'
  /** A topic this bridge's far side does not publish (PortBridgeOptions.inbound). */
  | 'topic-not-allowed';

export class BusError extends Error {
  override readonly name = 'BusError';
  readonly code: BusErrorCode;
  /** KTS_BUS_REMOTE: the responder's error code, when it had one. */
  readonly remoteCode: string | undefined;
  /** KTS_BUS_INVALID_ENVELOPE: why. */
  readonly reason: RejectReason | undefined;

  constructor(code: BusErrorCode, message: string, extra: { remoteCode?: string; reason?: RejectReason; cause?: unknown } = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.code = code;
    this.remoteCode = extra.remoteCode;
    this.reason = extra.reason;
  }
}

/** An error as plain, structured-clone-safe data. */
export interface PlainError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
}

export function toPlainError(err: unknown): PlainError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const out: PlainError = { name: err.name, message: err.message };
    if (typeof code === 'string') out.code = code;
    if (err.stack !== undefined) out.stack = err.stack;
    return out;
  }
  return { name: 'Error', message: String(err) };
}

export function isPlainError(x: unknown): x is PlainError {
  if (typeof x !== 'object' || x === null) return false;
  const e = x as Record<string, unknown>;
  return typeof e['name'] === 'string' && typeof e['message'] === 'string' && (e['code'] === undefined || typeof e['code'] === 'string');
}
