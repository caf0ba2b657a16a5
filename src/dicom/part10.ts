// Reads a DICOM Part 10 file (PS3.10) into what the rest of the project needs: the transfer
// syntax, the data set's attributes (dcmjs's naturalised form, keyword -> value) and the bytes
// of each pixel data frame.
//
// dcmjs parses the attributes. The structure is also walked here, element by element, because
// dcmjs silently zero-fills a value that runs past the end of the file (a truncated download
// would decode as a black stripe), and because it hands back encapsulated pixel data as
// fragments (or, when a Basic Offset Table exists, as frames, dropping the table, and throwing
// on a bad one), while decoders need exactly one frame's bytes. So dcmjs reads only the part
// before the pixel data, and the pixel data comes from the walk, as views on the input: frames
// cost no copy unless they span several fragments or need byte swapping. Elements after the
// pixel data (trailing padding, digital signatures) are not in the returned data set.
// Kept whole: one reader of one format; the element walk and the frame assembly it feeds are read together.

import { inflateRawSync } from 'node:zlib';
import dcmjs from 'dcmjs';
import { DicomParseError, PixelDecodeError } from '../domain/errors.js';
import { EXPLICIT_VR_BIG_ENDIAN, datasetEncoding } from './pixels/transfer-syntaxes.js';

/** dcmjs's naturalised data set: attribute keyword -> value (`dataset.Rows`, `dataset.PixelSpacing`). */
export type NaturalizedDataset = Record<string, unknown>;

/** The pixel data of a file, frame by frame. */
export interface PixelFrames {
  /** NumberOfFrames (1 when absent); 0 when the file has no PixelData. */
  readonly count: number;
  /**
   * The bytes of frame `index`: for native syntaxes the uncompressed samples in little-endian
   * order (big-endian files are swapped), for encapsulated ones the compressed stream of that
   * frame with its fragments joined. Throws PixelDecodeError when the frame cannot be had.
   */
  get(index: number): Uint8Array;
}

export interface DicomFile {
  /** Where the bytes came from (a file path or a SOP Instance UID); every error names it. */
  source: string;
  transferSyntaxUid: string;
  /** The data set without PixelData. */
  dataset: NaturalizedDataset;
  hasPixelData: boolean;
  frames: PixelFrames;
}

const PREAMBLE_LENGTH = 128;
const DICM_MARKER = 'DICM';
const META_GROUP = 0x0002;
const TRANSFER_SYNTAX_UID_TAG = 0x00020010;
const PIXEL_DATA_TAG = 0x7fe00010;
const EXTENDED_OFFSET_TABLE_TAG = 0x7fe00001;
const ITEM_TAG = 0xfffee000;
const ITEM_DELIMITATION_TAG = 0xfffee00d;
const SEQUENCE_DELIMITATION_TAG = 0xfffee0dd;
const UNDEFINED_LENGTH = 0xffffffff;
/** Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/** Parses a Part 10 file. Throws DicomParseError for non-DICOM, truncated or malformed bytes. */
export function readPart10(bytes: Uint8Array, source: string): DicomFile {
  if (bytes.length < PREAMBLE_LENGTH + 4 || asciiAt(bytes, PREAMBLE_LENGTH, 4) !== DICM_MARKER) {
    throw new DicomParseError(source, `not a DICOM Part 10 file: no "${DICM_MARKER}" marker after the ${PREAMBLE_LENGTH}-byte preamble`);
  }
  const { transferSyntaxUid, datasetStart } = readMetaHeader(bytes, source);
  const encoding = datasetEncoding(transferSyntaxUid);
  const datasetBytes = encoding.deflated ? inflate(bytes.subarray(datasetStart), source) : bytes.subarray(datasetStart);
  const walker = new ElementWalker(datasetBytes, encoding.explicitVr, encoding.littleEndian, source, encoding.deflated);
  walker.walkDataset(0, datasetBytes.length, false);
  // dcmjs only needs the attributes: cut the file before the pixel data (no copy of it, and a
  // bad offset table, which makes dcmjs throw, cannot hide the attributes).
  const attributeBytes = encoding.deflated || walker.pixelDataOffset === undefined ? bytes : bytes.subarray(0, datasetStart + walker.pixelDataOffset);
  const dataset = parseAttributes(attributeBytes, source);

  const pixelData = walker.pixelData;
  const frameCount = pixelData ? Math.max(1, integerAttribute(dataset.NumberOfFrames) ?? 1) : 0;
  const frames = !pixelData
    ? missingPixelData(source)
    : pixelData.fragments
      ? encapsulatedFrames(pixelData.fragments, pixelData.offsetTable, walker.extendedOffsetTable, frameCount, source)
      : nativeFrames(pixelData.value, pixelData.vr, dataset, frameCount, transferSyntaxUid, source);
  return { source, transferSyntaxUid, dataset, hasPixelData: pixelData !== undefined, frames };
}

// The file meta information --------------------------------------------------------------------

/** Walks the group 0002 elements (always explicit VR little endian) to find the transfer syntax and where the data set starts. */
function readMetaHeader(bytes: Uint8Array, source: string): { transferSyntaxUid: string; datasetStart: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = PREAMBLE_LENGTH + 4;
  let transferSyntaxUid: string | undefined;
  while (offset + 8 <= bytes.length && view.getUint16(offset, true) === META_GROUP) {
    const tag = ((META_GROUP << 16) | view.getUint16(offset + 2, true)) >>> 0;
    const vr = asciiAt(bytes, offset + 4, 2);
    const long = LONG_VRS.has(vr);
    const length = long ? view.getUint32(offset + 8, true) : view.getUint16(offset + 6, true);
    const valueStart = offset + (long ? 12 : 8);
    if (valueStart + length > bytes.length) {
      throw new DicomParseError(source, `truncated: the file ends at byte ${bytes.length}, inside file meta element ${tagName(tag)}`);
    }
    if (tag === TRANSFER_SYNTAX_UID_TAG) transferSyntaxUid = asciiAt(bytes, valueStart, length).replace(/[\0 ]+$/, '');
    offset = valueStart + length;
  }
  if (!transferSyntaxUid) {
    throw new DicomParseError(source, 'the file meta information has no TransferSyntaxUID (0002,0010)');
  }
  return { transferSyntaxUid, datasetStart: offset };
}

function inflate(deflated: Uint8Array, source: string): Uint8Array {
  try {
    return inflateRawSync(deflated);
  } catch (error) {
    throw new DicomParseError(source, `the deflated data set cannot be inflated (${(error as Error).message}); the file is truncated or corrupt`, { cause: error });
  }
}

function parseAttributes(bytes: Uint8Array, source: string): NaturalizedDataset {
  // dcmjs reads an ArrayBuffer from its start; copy when `bytes` is a view (Node's small Buffers
  // live in a shared pool). `new Uint8Array(view)` copies; Buffer#slice would not.
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  const buffer = (whole ? bytes.buffer : new Uint8Array(bytes).buffer) as ArrayBuffer;
  let dataset: NaturalizedDataset;
  try {
    // The walk has already checked the structure, so what dcmjs may still object to is
    // semantic: several character sets (common in Japan), no meta group length. Those must not
    // make an image unreadable; with ignoreErrors dcmjs warns and carries on.
    dataset = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dcmjs.data.DicomMessage.readFile(buffer, { ignoreErrors: true }).dict);
  } catch (error) {
    throw new DicomParseError(source, `unreadable data set: ${(error as Error).message}`, { cause: error });
  }
  delete dataset.PixelData;
  return dataset;
}

// The element walk -------------------------------------------------------------------------------

interface PixelDataElement {
  vr: string;
  /** Native pixel data: the whole value. */
  value: Uint8Array;
  /** Encapsulated pixel data: the fragments after the Basic Offset Table, in order. */
  fragments?: Uint8Array[];
  /** Encapsulated pixel data: the Basic Offset Table's value (empty when the table is empty). */
  offsetTable?: Uint8Array;
}

/**
 * Checks that every element of a data set lies inside the bytes (nested sequences of undefined
 * length included) and remembers where the top-level pixel data is.
 */
class ElementWalker {
  pixelData: PixelDataElement | undefined;
  /** Where the top-level PixelData element (its tag) starts in the data set. */
  pixelDataOffset: number | undefined;
  extendedOffsetTable: Uint8Array | undefined;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly explicitVr: boolean,
    private readonly littleEndian: boolean,
    private readonly source: string,
    private readonly inflated: boolean,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Walks elements from `offset`; inside an item of undefined length, up to its delimiter. Returns the offset after the last byte read. */
  walkDataset(offset: number, end: number, inItem: boolean, implicitLittleEndian = false, depth = 0): number {
    const explicitVr = this.explicitVr && !implicitLittleEndian;
    const little = this.littleEndian || implicitLittleEndian;
    while (offset < end) {
      if (end - offset < 8) {
        if (!inItem && this.bytes.subarray(offset, end).every((b) => b === 0)) return end; // trailing zero padding some writers leave
        this.truncated(offset, 'an element header');
      }
      const tag = this.tagAt(offset, little);
      if (tag === ITEM_DELIMITATION_TAG && inItem) return offset + 8;
      let vr = '';
      let length: number;
      let header: number;
      if (explicitVr && tag >>> 16 !== 0xfffe) {
        vr = asciiAt(this.bytes, offset + 4, 2);
        if (!/^[A-Z]{2}$/.test(vr)) this.malformed(offset, `element ${tagName(tag)} has no valid VR ("${printable(vr)}")`);
        const long = LONG_VRS.has(vr);
        if (long && end - offset < 12) this.truncated(offset, `the header of element ${tagName(tag)}`);
        length = long ? this.view.getUint32(offset + 8, little) : this.view.getUint16(offset + 6, little);
        header = long ? 12 : 8;
      } else {
        length = this.view.getUint32(offset + 4, little);
        header = 8;
      }
      const valueStart = offset + header;
      const topLevel = depth === 0;
      if (topLevel && tag === PIXEL_DATA_TAG) this.pixelDataOffset = offset;
      if (length === UNDEFINED_LENGTH) {
        if (topLevel && tag === PIXEL_DATA_TAG) offset = this.walkEncapsulatedPixelData(valueStart, end, vr);
        else offset = this.walkSequence(valueStart, end, vr === 'UN' || implicitLittleEndian, depth + 1, tag);
        continue;
      }
      if (valueStart + length > end) this.truncated(offset, `the ${length}-byte value of element ${tagName(tag)}`);
      if (topLevel && tag === PIXEL_DATA_TAG) this.pixelData = { vr: vr || 'OW', value: this.bytes.subarray(valueStart, valueStart + length) };
      if (topLevel && tag === EXTENDED_OFFSET_TABLE_TAG) this.extendedOffsetTable = this.bytes.subarray(valueStart, valueStart + length);
      offset = valueStart + length;
    }
    if (inItem) this.truncated(offset, 'the item delimiter of a sequence item');
    return offset;
  }

  /** A sequence of undefined length: items (of defined or undefined length) up to the sequence delimiter. UN sequences hold implicit VR little endian items (PS3.5 6.2.2). */
  private walkSequence(offset: number, end: number, implicitLittleEndian: boolean, depth: number, owner: number): number {
    const little = this.littleEndian || implicitLittleEndian;
    for (;;) {
      if (end - offset < 8) this.truncated(offset, `the sequence delimiter of ${tagName(owner)}`);
      const tag = this.tagAt(offset, little);
      const length = this.view.getUint32(offset + 4, little);
      if (tag === SEQUENCE_DELIMITATION_TAG) return offset + 8;
      if (tag !== ITEM_TAG) this.malformed(offset, `expected an item of ${tagName(owner)}, found ${tagName(tag)}`);
      if (length === UNDEFINED_LENGTH) {
        offset = this.walkDataset(offset + 8, end, true, implicitLittleEndian, depth);
      } else {
        if (offset + 8 + length > end) this.truncated(offset, `a ${length}-byte item of ${tagName(owner)}`);
        offset += 8 + length;
      }
    }
  }

  /** Encapsulated pixel data (PS3.5 A.4): the Basic Offset Table item, fragment items, the sequence delimiter. */
  private walkEncapsulatedPixelData(offset: number, end: number, vr: string): number {
    const items: Uint8Array[] = [];
    for (;;) {
      if (end - offset < 8) this.truncated(offset, 'the end of the encapsulated pixel data');
      const tag = this.tagAt(offset, true);
      const length = this.view.getUint32(offset + 4, true);
      if (tag === SEQUENCE_DELIMITATION_TAG) break;
      if (tag !== ITEM_TAG || length === UNDEFINED_LENGTH) this.malformed(offset, `expected a pixel data fragment, found ${tagName(tag)}`);
      if (offset + 8 + length > end) this.truncated(offset, `a ${length}-byte pixel data fragment`);
      items.push(this.bytes.subarray(offset + 8, offset + 8 + length));
      offset += 8 + length;
    }
    const [offsetTable, ...fragments] = items;
    if (!offsetTable) this.malformed(offset, 'the encapsulated pixel data has no Basic Offset Table item');
    this.pixelData = { vr: vr || 'OB', value: new Uint8Array(0), offsetTable, fragments };
    return offset + 8;
  }

  private tagAt(offset: number, little: boolean): number {
    return ((this.view.getUint16(offset, little) << 16) | this.view.getUint16(offset + 2, little)) >>> 0;
  }

  private where(offset: number): string {
    return this.inflated ? `byte ${offset} of the inflated data set` : `byte ${offset} of the data set`;
  }

  private truncated(offset: number, what: string): never {
    const size = this.inflated ? `the inflated data set ends after ${this.bytes.length} bytes` : `the data set ends after ${this.bytes.length} bytes`;
    throw new DicomParseError(this.source, `truncated: ${what} at ${this.where(offset)} runs past the end of the file (${size})`);
  }

  private malformed(offset: number, problem: string): never {
    throw new DicomParseError(this.source, `unreadable structure at ${this.where(offset)}: ${problem}`);
  }
}

// Frames ---------------------------------------------------------------------------------------

function missingPixelData(source: string): PixelFrames {
  return {
    count: 0,
    get: () => {
      throw new PixelDecodeError(source, 'the data set has no PixelData (7FE0,0010)');
    },
  };
}

function checkFrameIndex(index: number, count: number, source: string): void {
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new PixelDecodeError(source, `frame ${index} does not exist; the image has ${count} frame(s)`);
  }
}

function nativeFrames(value: Uint8Array, vr: string, dataset: NaturalizedDataset, count: number, transferSyntaxUid: string, source: string): PixelFrames {
  const rows = integerAttribute(dataset.Rows) ?? 0;
  const columns = integerAttribute(dataset.Columns) ?? 0;
  const samplesPerPixel = integerAttribute(dataset.SamplesPerPixel) ?? 1;
  const bitsAllocated = integerAttribute(dataset.BitsAllocated) ?? 0;
  // Big endian OW values are words in the file's byte order; OB values are bytes and need no swap.
  const swapWidth = transferSyntaxUid === EXPLICIT_VR_BIG_ENDIAN && vr === 'OW' ? Math.max(2, bitsAllocated / 8) : 1;
  let littleEndian: Uint8Array | undefined;
  return {
    count,
    get(index) {
      checkFrameIndex(index, count, source);
      if (bitsAllocated % 8 !== 0 || bitsAllocated === 0 || rows === 0 || columns === 0) {
        throw new PixelDecodeError(source, `cannot locate native frames with Rows ${rows}, Columns ${columns}, BitsAllocated ${bitsAllocated} (only whole-byte samples are supported)`);
      }
      const frameBytes = rows * columns * samplesPerPixel * (bitsAllocated / 8);
      const start = index * frameBytes;
      if (start + frameBytes > value.length) {
        throw new PixelDecodeError(
          source,
          `pixel data is shorter than declared: PixelData holds ${value.length} bytes, frame ${index} needs bytes ${start}-${start + frameBytes} ` +
            `(Rows ${rows} x Columns ${columns} x SamplesPerPixel ${samplesPerPixel} x BitsAllocated ${bitsAllocated}/8 = ${frameBytes} per frame)`,
        );
      }
      if (swapWidth > 1) {
        littleEndian ??= swapBytes(value, swapWidth);
        return littleEndian.subarray(start, start + frameBytes);
      }
      return value.subarray(start, start + frameBytes);
    },
  };
}

/** A copy of `value` with the bytes of each `width`-byte word reversed. */
function swapBytes(value: Uint8Array, width: number): Uint8Array {
  const out = new Uint8Array(value.length);
  const whole = value.length - (value.length % width);
  for (let i = 0; i < whole; i += width) {
    for (let b = 0; b < width; b++) out[i + b] = value[i + width - 1 - b]!;
  }
  out.set(value.subarray(whole), whole);
  return out;
}

function encapsulatedFrames(fragments: Uint8Array[], offsetTable: Uint8Array | undefined, extendedOffsetTable: Uint8Array | undefined, count: number, source: string): PixelFrames {
  let groups: Uint8Array[][] | undefined;
  return {
    count,
    get(index) {
      checkFrameIndex(index, count, source);
      groups ??= groupFragments(fragments, readOffsets(offsetTable, extendedOffsetTable), count, source);
      return concatenate(groups[index]!);
    },
  };
}

function readOffsets(offsetTable: Uint8Array | undefined, extendedOffsetTable: Uint8Array | undefined): number[] {
  const offsets: number[] = [];
  if (offsetTable && offsetTable.length >= 4) {
    const view = new DataView(offsetTable.buffer, offsetTable.byteOffset, offsetTable.byteLength);
    for (let i = 0; i + 4 <= offsetTable.length; i += 4) offsets.push(view.getUint32(i, true));
  } else if (extendedOffsetTable && extendedOffsetTable.length >= 8) {
    // The Extended Offset Table (7FE0,0001) replaces an empty Basic Offset Table for frames over 4 GiB in total.
    const view = new DataView(extendedOffsetTable.buffer, extendedOffsetTable.byteOffset, extendedOffsetTable.byteLength);
    for (let i = 0; i + 8 <= extendedOffsetTable.length; i += 8) offsets.push(Number(view.getBigUint64(i, true)));
  }
  return offsets;
}

/**
 * Which fragments make up each frame (PS3.5 A.4): all of them for a single frame; by the offset
 * table when there is one; one each when the counts match; otherwise, by the codestream start
 * markers that open each frame.
 */
function groupFragments(fragments: Uint8Array[], offsets: number[], count: number, source: string): Uint8Array[][] {
  if (count === 1) return [fragments];
  if (offsets.length > 0) {
    if (offsets.length !== count) throw new PixelDecodeError(source, `the offset table lists ${offsets.length} frames, NumberOfFrames says ${count}`);
    // Offsets count from the first fragment's item tag; each fragment item has an 8-byte header.
    const frameAt = new Map(offsets.map((offset, frame) => [offset, frame]));
    const groups: Uint8Array[][] = offsets.map(() => []);
    let position = 0;
    let frame = -1;
    for (const fragment of fragments) {
      frame = frameAt.get(position) ?? frame;
      if (frame < 0) throw new PixelDecodeError(source, 'the offset table does not start at the first fragment');
      groups[frame]!.push(fragment);
      position += 8 + fragment.length;
    }
    const empty = groups.findIndex((group) => group.length === 0);
    if (empty >= 0) throw new PixelDecodeError(source, `the offset table entry for frame ${empty} (${offsets[empty]}) does not point at a fragment`);
    return groups;
  }
  if (fragments.length === count) return fragments.map((fragment) => [fragment]);
  const groups: Uint8Array[][] = [];
  for (const fragment of fragments) {
    if (startsFrame(fragment) || groups.length === 0) groups.push([fragment]);
    else groups[groups.length - 1]!.push(fragment);
  }
  if (groups.length !== count) {
    throw new PixelDecodeError(source, `cannot tell which of the ${fragments.length} fragments belong to each of the ${count} frames (no offset table)`);
  }
  return groups;
}

/** Whether a fragment opens a codestream: JPEG / JPEG-LS SOI, JPEG 2000 SOC, or a JP2 signature box. */
function startsFrame(fragment: Uint8Array): boolean {
  const [b0, b1, b2, b3, b4, b5] = fragment;
  if (b0 === 0xff && (b1 === 0xd8 || b1 === 0x4f)) return true;
  return b0 === 0 && b1 === 0 && b2 === 0 && b3 === 0x0c && b4 === 0x6a && b5 === 0x50;
}

function concatenate(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// Small helpers --------------------------------------------------------------------------------

/** An integer attribute from a naturalised data set (dcmjs gives IS/US values as numbers, strings or one-element arrays). */
export function integerAttribute(value: unknown): number | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  const number = typeof first === 'string' ? Number(first.trim()) : first;
  return typeof number === 'number' && Number.isInteger(number) ? number : undefined;
}

function asciiAt(bytes: Uint8Array, offset: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + length));
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

function tagName(tag: number): string {
  const hex = tag.toString(16).toUpperCase().padStart(8, '0');
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}
