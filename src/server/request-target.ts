// Request targets as every HTTP listener of the node reads them (the kubelet API, its healthz
// port, the sim runtime's control socket): parsed before anything else, a malformed one is a 400.
/** A request the server cannot serve as written: answered with `status` (4xx), never a 500. */
export class BadRequestError extends Error {
  readonly code = 'KTS_BAD_REQUEST';

  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'BadRequestError';
  }
}

/**
 * The request target as a URL, or a BadRequestError. Only origin-form targets ("/path?query")
 * are served: absolute-form, authority-form (CONNECT) and asterisk-form are refused, and the
 * base is prepended as text so that "//host/x" stays a path and cannot become an authority.
 */
export function parseTarget(target: string | undefined): URL {
  const t = target ?? '';
  if (!t.startsWith('/')) throw new BadRequestError(`request target must be a path starting with "/", got ${JSON.stringify(t.slice(0, 100))}`);
  let url: URL;
  try {
    url = new URL(`http://kubelet${t}`);
  } catch {
    throw new BadRequestError(`malformed request target ${JSON.stringify(t.slice(0, 100))}`);
  }
  if (url.host !== 'kubelet') throw new BadRequestError(`malformed request target ${JSON.stringify(t.slice(0, 100))}`);
  return url;
}

/** decodeURIComponent of one path segment; broken percent-encoding is a 400, not a URIError. */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequestError(`malformed percent-encoding in path segment ${JSON.stringify(segment.slice(0, 100))}`);
  }
}
