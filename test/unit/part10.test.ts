// readPart10 on hand-built Part 10 bytes: how encapsulated fragments become frames (with and
// without a Basic Offset Table), native frame slicing, and the parse errors for bytes that are
// not DICOM, truncated, or malformed. The decoding corpus in test/integration/decode.test.ts
// covers real files from dcmtk and GDCM.

import { describe, expect, it } from 'vitest';
import { DicomParseError, PixelDecodeError } from '../../src/domain/errors.js';
import { readPart10 } from '../../src/dicom/part10.js';

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const JPEG_LS = '1.2.840.10008.1.2.4.80';

/** One explicit VR little endian element. */
function element(group: number, elem: number, vr: string, value: Uint8Array | string | number): Uint8Array {
  let bytes: Uint8Array;
  if (typeof value === 'number') {
    bytes = new Uint8Array(2);
    new DataView(bytes.buffer).setUint16(0, value, true);
  } else if (typeof value === 'string') {
    const padded = value.length % 2 ? value + (vr === 'UI' ? '\0' : ' ') : value;
    bytes = new TextEncoder().encode(padded);
  } else bytes = value;
  const long = ['OB', 'OW', 'SQ', 'UN', 'UT'].includes(vr);
  const header = new DataView(new ArrayBuffer(long ? 12 : 8));
  header.setUint16(0, group, true);
  header.setUint16(2, elem, true);
  header.setUint8(4, vr.charCodeAt(0));
  header.setUint8(5, vr.charCodeAt(1));
  if (long) header.setUint32(8, bytes.length, true);
  else header.setUint16(6, bytes.length, true);
  return concat(new Uint8Array(header.buffer), bytes);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function u32(...values: number[]): Uint8Array {
  const bytes = new Uint8Array(4 * values.length);
  values.forEach((v, i) => new DataView(bytes.buffer).setUint32(4 * i, v, true));
  return bytes;
}

/** An item (FFFE,E000) or delimiter tag with a 32-bit length, as encapsulated pixel data uses. */
function item(tagElement: number, value: Uint8Array = new Uint8Array(0)): Uint8Array {
  const header = new DataView(new ArrayBuffer(8));
  header.setUint16(0, 0xfffe, true);
  header.setUint16(2, tagElement, true);
  header.setUint32(4, value.length, true);
  return concat(new Uint8Array(header.buffer), value);
}

/** Preamble, DICM, the file meta group (with its group length) and the data set. */
function part10(transferSyntax: string, dataset: Uint8Array): Uint8Array {
  const meta = concat(element(2, 0x0001, 'OB', new Uint8Array([0, 1])), element(2, 0x0010, 'UI', transferSyntax));
  const groupLength = new Uint8Array(4);
  new DataView(groupLength.buffer).setUint32(0, meta.length, true);
  return concat(new Uint8Array(128), new TextEncoder().encode('DICM'), element(2, 0, 'UL', groupLength), meta, dataset);
}

function imageAttributes(frames: number, rows = 2, columns = 2): Uint8Array {
  return concat(
    element(0x0028, 0x0002, 'US', 1),
    element(0x0028, 0x0004, 'CS', 'MONOCHROME2'),
    element(0x0028, 0x0008, 'IS', String(frames)),
    element(0x0028, 0x0010, 'US', rows),
    element(0x0028, 0x0011, 'US', columns),
    element(0x0028, 0x0100, 'US', 8),
    element(0x0028, 0x0101, 'US', 8),
  );
}

/** Encapsulated pixel data: undefined length, the offset table item, fragments, delimiter. */
function encapsulated(offsetTable: Uint8Array, fragments: Uint8Array[]): Uint8Array {
  const header = new DataView(new ArrayBuffer(12));
  header.setUint16(0, 0x7fe0, true);
  header.setUint16(2, 0x0010, true);
  header.setUint8(4, 'O'.charCodeAt(0));
  header.setUint8(5, 'B'.charCodeAt(0));
  header.setUint32(8, 0xffffffff, true);
  return concat(new Uint8Array(header.buffer), item(0xe000, offsetTable), ...fragments.map((f) => item(0xe000, f)), item(0xe0dd));
}

const SOI = [0xff, 0xd8];
const fragA = new Uint8Array([...SOI, 1, 2]);
const fragB = new Uint8Array([3, 4, 5, 6]);
const fragC = new Uint8Array([...SOI, 7, 8, 9, 10]);

describe('readPart10: encapsulated frames', () => {
  it('joins the fragments of each frame by the Basic Offset Table', () => {
    // Frame 0 = fragments A and B, frame 1 = C; offsets count from the first fragment's item tag.
    const table = u32(0, 8 + fragA.length + 8 + fragB.length);
    const file = readPart10(part10(JPEG_LS, concat(imageAttributes(2), encapsulated(table, [fragA, fragB, fragC]))), 'bot.dcm');
    expect(file.transferSyntaxUid).toBe(JPEG_LS);
    expect(file.frames.count).toBe(2);
    expect([...file.frames.get(0)]).toEqual([...fragA, ...fragB]);
    expect([...file.frames.get(1)]).toEqual([...fragC]);
  });

  it('joins every fragment of a single frame without an offset table', () => {
    const file = readPart10(part10(JPEG_LS, concat(imageAttributes(1), encapsulated(new Uint8Array(0), [fragA, fragB]))), 'one.dcm');
    expect([...file.frames.get(0)]).toEqual([...fragA, ...fragB]);
  });

  it('finds frame starts by codestream markers when the table is empty', () => {
    const file = readPart10(part10(JPEG_LS, concat(imageAttributes(2), encapsulated(new Uint8Array(0), [fragA, fragB, fragC]))), 'markers.dcm');
    expect([...file.frames.get(1)]).toEqual([...fragC]);
  });

  it('says so when fragments cannot be assigned to frames', () => {
    const file = readPart10(part10(JPEG_LS, concat(imageAttributes(3), encapsulated(new Uint8Array(0), [fragA, fragB]))), 'odd.dcm');
    expect(() => file.frames.get(0)).toThrow(PixelDecodeError);
    expect(() => file.frames.get(0)).toThrow('odd.dcm: cannot tell which of the 2 fragments belong to each of the 3 frames');
  });

  it('rejects an offset table entry that points between fragments', () => {
    const file = readPart10(part10(JPEG_LS, concat(imageAttributes(2), encapsulated(u32(0, 5), [fragA, fragC]))), 'table.dcm');
    expect(() => file.frames.get(1)).toThrow('table.dcm: the offset table entry for frame 1 (5) does not point at a fragment');
  });
});

describe('readPart10: native frames', () => {
  it('slices each frame out of the pixel data', () => {
    const pixels = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const file = readPart10(part10(EXPLICIT_LE, concat(imageAttributes(2), element(0x7fe0, 0x0010, 'OB', pixels))), 'native.dcm');
    expect([...file.frames.get(1)]).toEqual([5, 6, 7, 8]);
    expect(() => file.frames.get(2)).toThrow('native.dcm: frame 2 does not exist; the image has 2 frame(s)');
  });

  it('reports pixel data shorter than Rows x Columns x BitsAllocated/8', () => {
    const file = readPart10(part10(EXPLICIT_LE, concat(imageAttributes(1, 4, 4), element(0x7fe0, 0x0010, 'OB', new Uint8Array(10)))), 'short.dcm');
    expect(() => file.frames.get(0)).toThrow(PixelDecodeError);
    expect(() => file.frames.get(0)).toThrow('short.dcm: pixel data is shorter than declared: PixelData holds 10 bytes, frame 0 needs bytes 0-16');
  });

  it('exposes a data set without PixelData (an SR, say) and refuses its frames', () => {
    const file = readPart10(part10(EXPLICIT_LE, element(0x0008, 0x0060, 'CS', 'SR')), 'report.dcm');
    expect(file.hasPixelData).toBe(false);
    expect(file.dataset.Modality).toBe('SR');
    expect(file.frames.count).toBe(0);
    expect(() => file.frames.get(0)).toThrow('report.dcm: the data set has no PixelData (7FE0,0010)');
  });
});

describe('readPart10: attributes', () => {
  it('reads a data set with several character sets, which dcmjs alone refuses', () => {
    const dataset = concat(element(0x0008, 0x0005, 'CS', 'ISO 2022 IR 6\\ISO 2022 IR 87'), element(0x0008, 0x0060, 'CS', 'MG'), imageAttributes(1));
    const file = readPart10(part10(EXPLICIT_LE, concat(dataset, element(0x7fe0, 0x0010, 'OB', new Uint8Array(4)))), 'japan.dcm');
    expect(file.dataset.Modality).toBe('MG');
    expect(file.dataset.Rows).toBe(2);
  });
});

describe('readPart10: parse errors', () => {
  const good = part10(EXPLICIT_LE, concat(imageAttributes(1), element(0x7fe0, 0x0010, 'OB', new Uint8Array(4))));

  it('rejects bytes without the DICM marker', () => {
    const parse = () => readPart10(new TextEncoder().encode('P5\n1024 1024\n255\n'), 'image.pgm');
    expect(parse).toThrow(DicomParseError);
    expect(parse).toThrow('image.pgm: not a DICOM Part 10 file: no "DICM" marker');
  });

  it('rejects a file cut inside the pixel data (which dcmjs alone would zero-fill)', () => {
    const parse = () => readPart10(good.subarray(0, good.length - 2), 'cut.dcm');
    expect(parse).toThrow(DicomParseError);
    expect(parse).toThrow(/^cut\.dcm: truncated: the 4-byte value of element \(7FE0,0010\)/);
  });

  it('rejects encapsulated pixel data without its sequence delimiter', () => {
    const bytes = part10(JPEG_LS, concat(imageAttributes(1), encapsulated(new Uint8Array(0), [fragA])));
    expect(() => readPart10(bytes.subarray(0, bytes.length - 8), 'nodelim.dcm')).toThrow('nodelim.dcm: truncated: the end of the encapsulated pixel data');
  });

  it('rejects an element with no valid VR', () => {
    const bytes = concat(good, new Uint8Array([0x09, 0x00, 0x10, 0x00, 0x01, 0x02, 0x00, 0x00]));
    expect(() => readPart10(bytes, 'junk.dcm')).toThrow('junk.dcm: unreadable structure at byte');
  });
});
