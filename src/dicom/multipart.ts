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

/**
 * Reads a response body into a single buffer. With a Content-Length the buffer is allocated
 * once at its final size; without one it grows by doubling.
 */
export async function readBody(stream: ReadableStream<Uint8Array>, contentLength: number | null, limitBytes: number): Promise<Uint8Array> {
  if (contentLength !== null && contentLength > limitBytes) throw new Error(`response of ${contentLength} bytes exceeds the limit of ${limitBytes}`);
  let buffer = new Uint8Array(contentLength ?? 1 << 20);
  let length = 0;
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    if (length + chunk.byteLength > buffer.byteLength) {
      if (length + chunk.byteLength > limitBytes) throw new Error(`response exceeds the limit of ${limitBytes} bytes`);
      const grown = new Uint8Array(Math.min(limitBytes, Math.max(buffer.byteLength * 2, length + chunk.byteLength)));
      grown.set(buffer.subarray(0, length));
      buffer = grown;
    }
    buffer.set(chunk, length);
    length += chunk.byteLength;
  }
  if (contentLength !== null && length < contentLength) throw new Error(`response truncated: ${length} of ${contentLength} bytes`);
  return buffer.subarray(0, length);
}
