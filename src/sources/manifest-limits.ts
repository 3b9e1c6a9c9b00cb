// Limits on manifest text, checked before the YAML/JSON parser sees it. Every pod source (the
// manifest folder, the manifest URL, POST /static-pods) goes through here, so hostile text costs
// a bounded amount of memory and time and is refused with a clear message.
//
// Why a pre-scan: the `yaml` composer recurses per nesting level, and V8 aborts the whole process
// (a fatal out-of-memory in its RegExp compiler, not a catchable error) on the second parse of
// anything nested ~1,000 deep. The library's Lexer is iterative and safe on any input, so the
// depth and the document count are measured from its tokens, and only text within the limits
// reaches the composer. A real Pod nests about 10 levels (spec.affinity...matchExpressions[].values),
// 12 inside a List: the depth limit leaves plenty of room.
//
// Reading files: only regular files are read, opened with O_NONBLOCK (a FIFO planted in the
// manifest folder would otherwise block the read forever, and the file source with it) and read
// up to the size cap, never further (/dev/zero behind a symlink is refused, not read).
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { CST, Lexer } from 'yaml';

export const MANIFEST_LIMITS = {
  /** Bytes of one manifest file, URL body or POST body. */
  maxBytes: 4 * 1024 * 1024,
  /** Nesting of collections (flow and block), counted from the top of a document. */
  maxDepth: 100,
  /** YAML documents in one text. */
  maxDocuments: 1000,
  /** Pods in one text (documents and List items together). */
  maxPods: 5000,
} as const;

export class ManifestLimitError extends Error {
  readonly code = 'KTS_MANIFEST_LIMIT';

  constructor(message: string) {
    super(message);
    this.name = 'ManifestLimitError';
  }
}

export interface ManifestShape {
  depth: number;
  documents: number;
}

/**
 * Measures nesting depth and document count from the lexer's tokens without building anything.
 * Block collections are tracked as a stack of the columns where they start (a sequence at its
 * `-`, a mapping at its first key); a line's first token closes every block at or right of its
 * column, except the mapping whose key a sequence at the same column belongs to. Flow collections
 * count their brackets. The figure follows the YAML structure's depth closely; it is a limit's
 * measure, not a parser.
 */
export function measureManifest(text: string, limits: { maxDepth: number; maxDocuments: number } = MANIFEST_LIMITS): ManifestShape {
  let depth = 0;
  let documents = 0;
  let inDocument = false;
  let flow = 0;
  const blocks: number[] = [];
  let col = 0;
  let lineStart = true;
  /** Column where the current line's last content token began (a key, for the `:` after it). */
  let lastContentCol = 0;
  /** The last content token was a key's `:` with nothing after it yet (the value is on a later line). */
  let valuePending = false;
  const deeper = (): void => {
    const d = blocks.length + flow;
    if (d > depth) depth = d;
    if (depth > limits.maxDepth) throw new ManifestLimitError(`manifest nested deeper than ${limits.maxDepth} levels`);
  };
  const startDocument = (): void => {
    documents++;
    if (documents > limits.maxDocuments) throw new ManifestLimitError(`more than ${limits.maxDocuments} YAML documents in one manifest`);
    inDocument = true;
    blocks.length = 0;
    flow = 0;
  };
  for (const token of new Lexer().lex(text)) {
    const type = CST.tokenType(token);
    // Control tokens (document mode, scalar markers, flow error ends) are not source text.
    if (type === 'doc-mode' || type === 'scalar' || type === 'flow-error-end' || type === 'byte-order-mark') continue;
    const startCol = col;
    const nl = token.lastIndexOf('\n');
    col = nl >= 0 ? token.length - nl - 1 : col + token.length;
    if (type === 'newline') {
      lineStart = true;
      continue;
    }
    if (type === 'space' || type === 'comment') {
      // A block scalar's body is one space token that ends at a line start.
      if (nl >= 0 && nl === token.length - 1) lineStart = true;
      continue;
    }
    if (type === 'doc-start') {
      startDocument();
      lineStart = false;
      continue;
    }
    if (type === 'doc-end') {
      inDocument = false;
      continue;
    }
    if (!inDocument) startDocument();
    if (lineStart && flow === 0) {
      // A sequence may sit at its key's column ("key:\n- item"): it is that key's value, so the
      // mapping stays open beneath it.
      const keepParent = type === 'seq-item-ind' && valuePending;
      while (blocks.length > 0 && (blocks[blocks.length - 1] ?? 0) >= startCol) {
        if (keepParent && blocks[blocks.length - 1] === startCol && blocks.length > 0) break;
        blocks.pop();
      }
    }
    valuePending = type === 'map-value-ind';
    lineStart = false;
    if (type === 'flow-map-start' || type === 'flow-seq-start') {
      flow++;
      deeper();
    } else if (type === 'flow-map-end' || type === 'flow-seq-end') {
      if (flow > 0) flow--;
    } else if (flow === 0 && (type === 'seq-item-ind' || type === 'explicit-key-ind')) {
      blocks.push(startCol);
      deeper();
    } else if (flow === 0 && type === 'map-value-ind' && blocks[blocks.length - 1] !== lastContentCol) {
      blocks.push(lastContentCol);
      deeper();
    }
    if (type !== 'map-value-ind') lastContentCol = startCol;
  }
  return { depth, documents };
}

/** Refuses text over the limits (size, depth, documents) with a ManifestLimitError; never parses. */
export function checkManifestText(text: string, limits: typeof MANIFEST_LIMITS = MANIFEST_LIMITS): void {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxBytes) throw new ManifestLimitError(`manifest is ${bytes} bytes, more than the limit of ${limits.maxBytes}`);
  measureManifest(text, limits);
}

export class NotRegularFileError extends Error {
  readonly code = 'KTS_MANIFEST_NOT_REGULAR';

  constructor(
    path: string,
    readonly kind: string,
  ) {
    super(`${path}: not a regular file (${kind}); only regular files are read as manifests`);
    this.name = 'NotRegularFileError';
  }
}

function kindOf(st: { isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean; isDirectory(): boolean }): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return 'not a file';
}

/**
 * Reads a manifest file: regular files only (after following symlinks), opened without blocking,
 * at most `maxBytes` (a larger file is a ManifestLimitError; a file that grows while read is cut
 * off there and refused the same way). Directories throw NotRegularFileError too; callers skip
 * them as upstream does.
 */
export async function readManifestFile(path: string, maxBytes: number = MANIFEST_LIMITS.maxBytes): Promise<string> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new NotRegularFileError(path, kindOf(st));
    if (st.size > maxBytes) throw new ManifestLimitError(`${path}: ${st.size} bytes, more than the manifest limit of ${maxBytes}`);
    // Read to EOF in chunks rather than trusting st.size: the file may grow meanwhile.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw new ManifestLimitError(`${path}: more than the manifest limit of ${maxBytes} bytes`);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** Reads a response body up to `maxBytes`; beyond it the body is abandoned and a ManifestLimitError thrown. */
export async function readBodyCapped(body: ReadableStream<Uint8Array> | null, maxBytes: number = MANIFEST_LIMITS.maxBytes): Promise<string> {
  if (!body) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) throw new ManifestLimitError(`manifest body is more than the limit of ${maxBytes} bytes`);
      chunks.push(Buffer.from(value));
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8');
}
