// RLE Lossless decoding (DICOM PS3.5 Annex G). A frame is a 64-byte header (the number of
// segments and up to 15 segment offsets) followed by the segments. Each segment is one byte
// plane, PackBits-encoded: for every sample of a pixel, the most significant byte plane first.
// No codec library is needed for this; it is short and runs at memory speed.

const HEADER_BYTES = 64;
const MAX_SEGMENTS = 15;

export interface RleFrameLayout {
  /** Rows x Columns. */
  pixels: number;
  samplesPerPixel: number;
  /** BitsAllocated / 8. */
  bytesPerSample: number;
}

/**
 * Decodes one RLE frame into little-endian samples laid out plane by plane (all of sample 0,
 * then all of sample 1, ...), i.e. PlanarConfiguration 1. Throws an Error naming the fault.
 */
export function decodeRleFrame(frame: Uint8Array, layout: RleFrameLayout): Uint8Array {
  const { pixels, samplesPerPixel, bytesPerSample } = layout;
  if (frame.length < HEADER_BYTES) throw new Error(`RLE frame is ${frame.length} bytes, shorter than its ${HEADER_BYTES}-byte header`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const segments = view.getUint32(0, true);
  const expected = samplesPerPixel * bytesPerSample;
  if (segments !== expected || segments > MAX_SEGMENTS) {
    throw new Error(`RLE frame has ${segments} segments; ${samplesPerPixel} sample(s) of ${bytesPerSample} byte(s) need ${expected}`);
  }
  const offsets: number[] = [];
  for (let k = 0; k < segments; k++) offsets.push(view.getUint32(4 + 4 * k, true));
  offsets.push(frame.length);

  const out = new Uint8Array(pixels * expected);
  for (let k = 0; k < segments; k++) {
    const start = offsets[k]!;
    const end = offsets[k + 1]!;
    if (start < HEADER_BYTES || end > frame.length || start > end) {
      throw new Error(`RLE segment ${k} has offset ${start}, outside the ${frame.length}-byte frame or out of order`);
    }
    const sample = Math.floor(k / bytesPerSample);
    const significance = k % bytesPerSample; // 0 = most significant byte
    const first = sample * pixels * bytesPerSample + (bytesPerSample - 1 - significance);
    const produced = unpackBits(frame, start, end, out, first, bytesPerSample, pixels);
    if (produced < pixels) throw new Error(`RLE segment ${k} decodes to ${produced} bytes; ${pixels} expected`);
  }
  return out;
}

/**
 * PackBits: a header byte n < 128 copies the next n + 1 bytes; n > 128 repeats the next byte
 * 257 - n times; 128 does nothing. Writes at most `count` bytes to `out`, `stride` apart from
 * `first`, and returns how many it wrote. Encoders may pad a segment, so output past `count`
 * is ignored.
 */
export function unpackBits(src: Uint8Array, start: number, end: number, out: Uint8Array, first: number, stride: number, count: number): number {
  let s = start;
  let produced = 0;
  let d = first;
  while (produced < count && s < end) {
    const n = src[s++]!;
    if (n < 128) {
      const run = Math.min(n + 1, count - produced, end - s);
      for (let i = 0; i < run; i++, d += stride) out[d] = src[s + i]!;
      s += n + 1;
      produced += run;
    } else if (n > 128) {
      if (s >= end) break;
      const value = src[s++]!;
      const run = Math.min(257 - n, count - produced);
      for (let i = 0; i < run; i++, d += stride) out[d] = value;
      produced += run;
    }
  }
  return produced;
}
