import { describe, expect, it } from 'vitest';
import { boundaryOf, buildMultipart, parseMultipart, readBody } from '../../src/dicom/multipart.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

describe('multipart/related', () => {
  it('round-trips binary parts, including bytes that look like CRLF and dashes', () => {
    const parts = [new Uint8Array([0, 13, 10, 45, 45, 255]), bytes('DICM\r\n--not-a-boundary')];
    const { body, contentType } = buildMultipart(parts);
    const boundary = boundaryOf(contentType)!;
    expect(contentType).toMatch(/^multipart\/related; type="application\/dicom"; boundary=mammocad-/);
    const parsed = parseMultipart(body, boundary);
    expect(parsed.map((p) => Array.from(p.body))).toEqual(parts.map((p) => Array.from(p)));
    expect(parsed[0]!.headers['content-type']).toBe('application/dicom');
  });

  it('returns views into the received buffer, not copies', () => {
    const { body, contentType } = buildMultipart([bytes('abc')]);
    const [part] = parseMultipart(body, boundaryOf(contentType)!);
    expect(part!.body.buffer).toBe(body.buffer);
  });

  it('reads quoted boundaries and parts without headers', () => {
    expect(boundaryOf('multipart/related; type="application/dicom"; boundary="b 1"')).toBe('b 1');
    const parsed = parseMultipart(bytes('--b\r\n\r\nhello\r\n--b--\r\n'), 'b');
    expect(text(parsed[0]!.body)).toBe('hello');
  });

  it('rejects a truncated body', () => {
    expect(() => parseMultipart(bytes('--b\r\nContent-Type: x\r\n\r\nhal'), 'b')).toThrow(/truncated/);
    expect(() => parseMultipart(bytes('nothing here'), 'b')).toThrow(/no boundary/);
  });
});

describe('readBody', () => {
  it('fills a buffer of the announced length from chunks', async () => {
    const body = await readBody(streamOf([bytes('ab'), bytes('cde')]), 5, 100);
    expect(text(body)).toBe('abcde');
    expect(body.buffer.byteLength).toBe(5);
  });

  it('sizes the buffer from the first part when the response has no length (chunked)', async () => {
    const payload = new Uint8Array(200_000).fill(7);
    const { body, contentType } = buildMultipart([payload]);
    const chunks = [];
    for (let i = 0; i < body.byteLength; i += 16_384) chunks.push(body.subarray(i, i + 16_384));
    const received = await readBody(streamOf(chunks), null, 10_000_000);
    expect(received.byteLength).toBe(body.byteLength);
    // one allocation of the part plus its headers and a little room, not a doubled buffer
    expect(received.buffer.byteLength - body.byteLength).toBeLessThanOrEqual(1024);
    expect(parseMultipart(received, boundaryOf(contentType)!)[0]!.body).toEqual(payload);
  });

  it('grows without a length, and enforces the limit and the announced length', async () => {
    expect(text(await readBody(streamOf([bytes('x'.repeat(3000))]), null, 10_000))).toHaveLength(3000);
    await expect(readBody(streamOf([bytes('abc')]), 10, 100)).rejects.toThrow(/truncated: 3 of 10/);
    await expect(readBody(streamOf([bytes('abc')]), 1000, 100)).rejects.toThrow(/exceeds the limit/);
  });
});
