// multipart/related bodies (RFC 2387) as DICOMweb uses them: reading WADO-RS responses and
// writing STOW-RS requests.
//
// Reading is done in place: the response is received into one buffer (sized from
// Content-Length when the server sends it) and each part is returned as a view into that
// buffer, so a 30 MB instance is held once, not once per copy.

const CRLF = new Uint8Array([13, 10]);
const HEADER_END = new Uint8Array([13, 10, 13, 10]);

export interface MultipartPart {
  headers: Record<string, string>;
  /** A view into the received body; no copy. */
  body: Uint8Array;
}

/** The boundary parameter of a multipart Content-Type, or null when it has none. */
export function boundaryOf(contentType: string): string | null {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match ? (match[1] ?? match[2] ?? null) : null;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0]!;
  const last = haystack.length - needle.length;
  outer: for (let i = haystack.indexOf(first, from); i !== -1 && i <= last; i = haystack.indexOf(first, i + 1)) {
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function parseHeaders(bytes: Uint8Array): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** Splits a complete multipart body into its parts (views into `body`). */
export function parseMultipart(body: Uint8Array, boundary: string): MultipartPart[] {
  const delimiter = new TextEncoder().encode(`--${boundary}`);
  const parts: MultipartPart[] = [];
  let start = indexOf(body, delimiter, 0);
  if (start === -1) throw new Error(`multipart body has no boundary '${boundary}'`);
  for (;;) {
    let cursor = start + delimiter.length;
    if (body[cursor] === 45 && body[cursor + 1] === 45) break; // "--": the closing delimiter
    if (body[cursor] === 13 && body[cursor + 1] === 10) cursor += 2;
    const headerEnd = indexOf(body, HEADER_END, cursor);
    const blank = body[cursor] === 13 && body[cursor + 1] === 10; // a part without headers
    const bodyStart = blank ? cursor + 2 : headerEnd === -1 ? -1 : headerEnd + 4;
    if (bodyStart === -1) throw new Error('multipart part has no end of headers');
    const next = indexOf(body, new Uint8Array([...CRLF, ...delimiter]), bodyStart);
    if (next === -1) throw new Error('multipart body is truncated (no closing boundary)');
    parts.push({ headers: blank ? {} : parseHeaders(body.subarray(cursor, headerEnd)), body: body.subarray(bodyStart, next) });
    start = next + 2;
  }
  return parts;
}

/** Builds a multipart/related body from DICOM instances; returns the body and its Content-Type. */
export function buildMultipart(parts: Uint8Array[], partType = 'application/dicom'): { body: Uint8Array; contentType: string } {
  const boundary = `mammocad-${crypto.randomUUID()}`;
  const encoder = new TextEncoder();
  const chunks: Uint8Array[] = [];
  for (const part of parts) {
    chunks.push(encoder.encode(`--${boundary}\r\nContent-Type: ${partType}\r\nContent-Length: ${part.byteLength}\r\n\r\n`), part, CRLF);
  }
  chunks.push(encoder.encode(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/related; type="${partType}"; boundary=${boundary}` };
}

/** Room for the closing boundary and the odd trailing header after a sized part. */
const TRAILER_ROOM = 1024;

/**
 * The size a multipart body will need, judged from its first bytes: the first part's own
 * Content-Length (DICOMweb servers, Orthanc among them, send one per part) plus its headers.
 * Null when the first part does not say.
 */
function sizeFromFirstPart(head: Uint8Array): number | null {
  const end = indexOf(head, HEADER_END, 0);
  if (end === -1) return null;
  const headers = Buffer.from(head.buffer, head.byteOffset, end).toString('latin1');
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(headers);
  return length ? end + 4 + Number(length[1]) + TRAILER_ROOM : null;
}

/**
 * Reads a response body into a single buffer, sized before it is filled: from the response's
 * Content-Length when it has one (and is not content-encoded), otherwise from the first part's
 * Content-Length; only when neither is known does the buffer grow by doubling.
 */
/**
 * The first `maxBytes` of a body, as text, the rest left unread (an error answer's detail: a
 * PACS may send megabytes of HTML with a 500).
 */
export async function readPrefix(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    while (length < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      length += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
}

/** A response larger than the reader's limit: the same answer comes next time, so no retry. */
export class BodyTooLargeError extends Error {}

export async function readBody(stream: ReadableStream<Uint8Array>, contentLength: number | null, limitBytes: number): Promise<Uint8Array> {
  if (contentLength !== null && contentLength > limitBytes) throw new BodyTooLargeError(`response of ${contentLength} bytes exceeds the limit of ${limitBytes}`);
  let buffer = contentLength !== null ? new Uint8Array(contentLength) : null;
  let length = 0;
  const pending: Uint8Array[] = []; // the first chunks, while the size is still unknown
  const ensure = (needed: number) => {
    if (needed > limitBytes) throw new BodyTooLargeError(`response exceeds the limit of ${limitBytes} bytes`);
    if (buffer && needed <= buffer.byteLength) return;
    const grown = new Uint8Array(Math.min(limitBytes, Math.max((buffer?.byteLength ?? 0) * 2, needed, 1 << 16)));
    if (buffer) grown.set(buffer.subarray(0, length));
    buffer = grown;
  };
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    if (!buffer) {
      pending.push(chunk);
      const head = pending.length === 1 ? chunk : Buffer.concat(pending);
      const size = sizeFromFirstPart(head);
      if (size === null && head.byteLength < 64 * 1024) continue;
      pending.length = 0;
      ensure(Math.max(size ?? 0, head.byteLength));
      buffer!.set(head, 0);
      length = head.byteLength;
      continue;
    }
    ensure(length + chunk.byteLength);
    buffer.set(chunk, length);
    length += chunk.byteLength;
  }
  if (!buffer) {
    const head = Buffer.concat(pending);
    return new Uint8Array(head.buffer, head.byteOffset, head.byteLength);
  }
  if (contentLength !== null && length < contentLength) throw new Error(`response truncated: ${length} of ${contentLength} bytes`);
  return (buffer as Uint8Array).subarray(0, length);
}
