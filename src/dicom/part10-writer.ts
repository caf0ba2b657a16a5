// Writes a naturalised data set (dcmjs's keyword -> value form) as a DICOM Part 10 file in
// Explicit VR Little Endian, byte for byte as dcmjs's DicomMetaDictionary.denaturalizeDataset
// followed by DicomDict.write does: the 128-byte preamble, "DICM", the File Meta Information
// group with its group length, then the elements in tag order; sequences and their items of
// undefined length, closed by delimitation items. dcmjs allocates a stream per element, which
// made writing one report cost tens of milliseconds; this writes into one growing buffer.
// Keywords are looked up in dcmjs's own dictionary, so tags and VRs are the ones dcmjs uses.
//
// Where dcmjs would write something other than it was given, this throws an Error naming the
// element, its tag and VR instead: a value longer than its VR allows where dcmjs would cut it
// short (AE, AS, CS, DA, DS, DT, IS, TM, UI) or refuse it (PN, DA, DT, TM), a keyword dcmjs
// would drop, a VR it would replace with a guess (the dictionary's ambiguous ones, such as "xs"
// for US or SS, unless _vrMap names the VR; OL, OV and SV, which it writes as UN), and values
// it would mangle: numbers out of range or not integers in an integer VR, anything but numbers
// in a binary VR, anything but strings and numbers in a string VR. LO, SH, ST and LT values
// longer than their VR allows are written whole, as dcmjs does (it only logs them): a source
// image with an over-long Study Description still gets its report.

import { Buffer } from 'node:buffer';
import dcmjs from 'dcmjs';
import { ValidationError } from '../domain/index.js';
import type { NaturalizedDataset } from './part10.js';
import { EXPLICIT_VR_LITTLE_ENDIAN } from './pixels/transfer-syntaxes.js';

const PREAMBLE_LENGTH = 128;
const ITEM = 0xe000;
const ITEM_DELIMITATION = 0xe00d;
const SEQUENCE_DELIMITATION = 0xe0dd;
const UNDEFINED_LENGTH = 0xffffffff;
/** The largest value a 16-bit length field holds (values have even lengths). */
const MAX_SHORT_LENGTH = 0xfffe;
const SPACE = 0x20;
const BACKSLASH = '\\';

/** VRs written with a 2-byte reserved field and a 4-byte length: dcmjs's list (OL, OV and SV it does not write). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'UV']);
/** String VRs dcmjs encodes as UTF-8; it writes the others one byte per UTF-16 code unit (its low byte: Latin-1 for Latin-1 text). */
const UTF8_VRS = new Set(['LO', 'LT', 'PN', 'SH', 'ST', 'UC', 'UT']);
const LATIN1_VRS = new Set(['AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'TM', 'UI', 'UR']);
const BYTE_VRS = new Set(['OB', 'OD', 'OF', 'OW', 'UN']);
/**
 * The most characters one value may have, where dcmjs enforces it (PS3.5 Table 6.2-1); DA, DT
 * and TM allow more for a range ("20200101-20201231"), as dcmjs does.
 */
const MAX_CHARACTERS: Readonly<Record<string, { single: number; range?: number }>> = {
  AE: { single: 16 },
  AS: { single: 4 },
  CS: { single: 16 },
  DA: { single: 8, range: 18 },
  DS: { single: 16 },
  DT: { single: 26, range: 54 },
  IS: { single: 12 },
  TM: { single: 16, range: 28 },
  UI: { single: 64 },
};
/** The longest component group (alphabetic, ideographic, phonetic) of a person name. */
const MAX_PN_COMPONENT_GROUP = 64;

interface NumberVr {
  size: number;
  min: number;
  max: number;
  integer: boolean;
  write(bytes: Buffer, value: number, offset: number): void;
}

const NUMBER_VRS: Readonly<Record<string, NumberVr>> = {
  US: { size: 2, min: 0, max: 0xffff, integer: true, write: (b, v, o) => b.writeUInt16LE(v, o) },
  SS: { size: 2, min: -0x8000, max: 0x7fff, integer: true, write: (b, v, o) => b.writeInt16LE(v, o) },
  UL: { size: 4, min: 0, max: 0xffffffff, integer: true, write: (b, v, o) => b.writeUInt32LE(v, o) },
  SL: { size: 4, min: -0x80000000, max: 0x7fffffff, integer: true, write: (b, v, o) => b.writeInt32LE(v, o) },
  // An attribute tag as one number, (group << 16 | element) >>> 0, as dcmjs reads it.
  AT: {
    size: 4,
    min: 0,
    max: 0xffffffff,
    integer: true,
    write: (b, v, o) => {
      b.writeUInt16LE(v >>> 16, o);
      b.writeUInt16LE(v & 0xffff, o + 2);
    },
  },
  // dcmjs passes numbers through String() and parseFloat(), which turns -0 into 0.
  FL: { size: 4, min: -Infinity, max: Infinity, integer: false, write: (b, v, o) => b.writeFloatLE(v === 0 ? 0 : v, o) },
  FD: { size: 8, min: -Infinity, max: Infinity, integer: false, write: (b, v, o) => b.writeDoubleLE(v === 0 ? 0 : v, o) },
};

interface DictionaryEntry {
  tag: number;
  vr: string;
}

/** dcmjs's dictionary by keyword (DicomMetaDictionary.nameMap; src/dicom/dcmjs.d.ts does not declare it). */
const nameMap = (dcmjs.data.DicomMetaDictionary as unknown as { nameMap: Record<string, { tag: string; vr: string }> }).nameMap;
const entries = new Map<string, DictionaryEntry | null>();

function lookUp(keyword: string): DictionaryEntry | null {
  let entry = entries.get(keyword);
  if (entry === undefined) {
    const known = Object.hasOwn(nameMap, keyword) ? nameMap[keyword] : undefined;
    // Tags are "(GGGG,EEEE)"; dcmjs's dictionary has no repeating groups ("60xx") by keyword.
    entry = known ? { tag: parseInt(known.tag.slice(1, 5) + known.tag.slice(6, 10), 16), vr: known.vr } : null;
    entries.set(keyword, entry);
  }
  return entry;
}

/**
 * The Part 10 file of `dataset` with the File Meta Information `meta` (keywords of group 0002,
 * without the group length, which is computed), as dcmjs writes it. `meta` must name Explicit
 * VR Little Endian, the only transfer syntax written. Throws an Error naming the element for
 * anything dcmjs would not write as given (see the top of this file).
 */
export function encodePart10(meta: NaturalizedDataset, dataset: NaturalizedDataset): Uint8Array {
  if (meta.TransferSyntaxUID !== EXPLICIT_VR_LITTLE_ENDIAN) {
    throw new Error(`Part 10 writer: the File Meta Information must name Explicit VR Little Endian (${EXPLICIT_VR_LITTLE_ENDIAN}); got ${String(meta.TransferSyntaxUID)}`);
  }
  const out = new ByteWriter();
  out.reserve(PREAMBLE_LENGTH + 4 + 12);
  out.position = PREAMBLE_LENGTH; // the buffer starts zeroed
  out.latin1('DICM');
  // File Meta Information Group Length (0002,0000) UL: the length of the group after it.
  const groupLengthAt = out.position + 8;
  out.tag(0x00020000);
  out.latin1('UL');
  out.u16(4);
  out.u32(0);
  const groupStart = out.position;
  out.dataset(meta, '');
  out.bytes.writeUInt32LE(out.position - groupStart, groupLengthAt);
  out.dataset(dataset, '');
  return new Uint8Array(out.bytes.subarray(0, out.position));
}

interface Element {
  tag: number;
  vr: string;
  keyword: string;
  value: unknown;
}

/** Where an element is, for errors: its path from the top of the data set, tag and VR. */
function elementName(path: string, element: Element): string {
  const hex = element.tag.toString(16).toUpperCase().padStart(8, '0');
  return `${path}${element.keyword} (${hex.slice(0, 4)},${hex.slice(4)}) ${element.vr}`;
}

/**
 * A value its VR cannot hold (say, one copied from a source image): bad input, so the study
 * fails with the reason rather than being retried. `message` shows the value, for a developer;
 * `withoutValue` names the element and the problem only, for logs and a study's reason (the
 * value may be the patient's name or ID).
 */
export class DicomValueError extends ValidationError {
  readonly withoutValue: string;
  constructor(element: string, problem: string, problemWithoutValue: string) {
    super(element, problem);
    this.withoutValue = `${element}: ${problemWithoutValue}`;
  }
}

function refuse(path: string, element: Element, problem: string, problemWithoutValue: string): never {
  throw new DicomValueError(elementName(path, element), problem, problemWithoutValue);
}

/** A data set our own builders got wrong (not a value's fault): a plain Error. */
function fault(path: string, element: Element, problem: string): never {
  throw new Error(`Part 10 writer: cannot write ${elementName(path, element)}: ${problem}`);
}

/** A value as dcmjs's denaturalizeDataset makes it a list: null is no values, a single value is one. */
function listOf(value: unknown): readonly unknown[] {
  return value === null ? [] : Array.isArray(value) ? value : [value];
}

class ByteWriter {
  bytes = Buffer.alloc(16 * 1024);
  position = 0;

  reserve(count: number): void {
    const needed = this.position + count;
    if (needed <= this.bytes.length) return;
    const grown = Buffer.alloc(Math.max(needed, this.bytes.length * 2));
    this.bytes.copy(grown, 0, 0, this.position);
    this.bytes = grown;
  }

  u16(value: number): void {
    this.bytes[this.position++] = value & 0xff;
    this.bytes[this.position++] = value >>> 8;
  }

  u32(value: number): void {
    this.bytes.writeUInt32LE(value, this.position);
    this.position += 4;
  }

  tag(tag: number): void {
    this.reserve(12);
    this.u16(tag >>> 16);
    this.u16(tag & 0xffff);
  }

  /** Latin-1 text; the caller has reserved room for it. */
  latin1(text: string): void {
    this.position += this.bytes.write(text, this.position, 'latin1');
  }

  dataset(dataset: NaturalizedDataset, path: string): void {
    // dcmjs keeps a VR that differs from the dictionary's (or resolves an ambiguous one) in _vrMap.
    const vrMap = dataset._vrMap as Record<string, string | undefined> | undefined;
    const elements: Element[] = [];
    for (const keyword of Object.keys(dataset)) {
      const value = dataset[keyword];
      // Unset attributes are left out; _vrMap and _meta are dcmjs's bookkeeping.
      if (value === undefined || keyword === '_vrMap' || keyword === '_meta') continue;
      const entry = lookUp(keyword);
      if (!entry) throw new Error(`Part 10 writer: cannot write ${path}${keyword}: not a keyword of the DICOM dictionary`);
      elements.push({ tag: entry.tag, vr: vrMap?.[keyword] || entry.vr, keyword, value });
    }
    elements.sort((a, b) => a.tag - b.tag);
    for (const element of elements) this.element(element, path);
  }

  private element(element: Element, path: string): void {
    const { vr } = element;
    this.tag(element.tag);
    if (vr === 'SQ') {
      this.latin1('SQ');
      this.u16(0);
      this.u32(UNDEFINED_LENGTH);
      this.sequence(element, path);
      return;
    }
    const long = LONG_VRS.has(vr);
    const vrAt = this.position;
    this.latin1(vr);
    if (long) this.u16(0);
    const lengthAt = this.position;
    this.position += long ? 4 : 2;
    const start = this.position;
    if (UTF8_VRS.has(vr) || LATIN1_VRS.has(vr)) this.strings(element, path);
    else if (BYTE_VRS.has(vr)) this.byteString(element, path);
    else if (vr === 'UV') this.veryLongs(element, path);
    else if (NUMBER_VRS[vr]) this.numbers(element, path, NUMBER_VRS[vr]);
    else fault(path, element, 'not a VR dcmjs writes as it is (it writes OL, OV and SV as UN, and guesses for an ambiguous one: name it in _vrMap)');
    let length = this.position - start;
    if (length % 2 === 1) {
      this.bytes[this.position++] = vr === 'UI' || !(UTF8_VRS.has(vr) || LATIN1_VRS.has(vr)) ? 0 : SPACE;
      length++;
    }
    if (long) {
      this.bytes.writeUInt32LE(length, lengthAt);
    } else if (length <= MAX_SHORT_LENGTH) {
      this.bytes.writeUInt16LE(length, lengthAt);
    } else {
      // Too long for a 16-bit length: written as UN with a 32-bit length, as dcmjs does (PS3.5
      // 6.2.2); the longer header moves the value 4 bytes on.
      this.reserve(4);
      this.bytes.copyWithin(start + 4, start, this.position);
      this.position += 4;
      this.bytes.write('UN', vrAt, 'latin1');
      this.bytes.writeUInt16LE(0, lengthAt);
      this.bytes.writeUInt32LE(length, lengthAt + 2);
    }
  }

  private sequence(element: Element, path: string): void {
    const items = listOf(element.value);
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (typeof item !== 'object' || item === null || Array.isArray(item)) fault(path, element, `item ${i} is not a data set`);
      this.tag(0xfffe0000 | ITEM);
      this.u32(UNDEFINED_LENGTH);
      this.dataset(item as NaturalizedDataset, `${path}${element.keyword}[${i}].`);
      this.tag(0xfffe0000 | ITEM_DELIMITATION);
      this.u32(0);
    }
    this.tag(0xfffe0000 | SEQUENCE_DELIMITATION);
    this.u32(0);
  }

  /** String values joined by backslashes, each as dcmjs would write it (numbers as String() gives them). */
  private strings(element: Element, path: string): void {
    const { vr } = element;
    const texts = vr === 'PN' ? [personName(element, path)] : listOf(element.value).map((value) => text(element, path, value));
    const utf8 = UTF8_VRS.has(vr);
    const limit = MAX_CHARACTERS[vr];
    let room = texts.length;
    for (const value of texts) {
      if (limit && value.length > (limit.range !== undefined && value.includes('-') ? limit.range : limit.single)) {
        const allowed = `${vr} allows at most ${limit.single}${limit.range ? ` (${limit.range} for a range)` : ''}`;
        refuse(path, element, `'${value}' is ${value.length} characters; ${allowed}`, `a value of ${value.length} characters; ${allowed}`);
      }
      room += utf8 ? value.length * 3 : value.length;
    }
    this.reserve(room + 1);
    for (let i = 0; i < texts.length; i++) {
      if (i > 0) this.bytes[this.position++] = 0x5c;
      this.position += this.bytes.write(texts[i]!, this.position, utf8 ? 'utf8' : 'latin1');
    }
  }

  /** OB, OD, OF, OW, UN: one ArrayBuffer or typed array, or nothing. */
  private byteString(element: Element, path: string): void {
    const values = listOf(element.value);
    if (values.length > 1) fault(path, element, `has ${values.length} values; dcmjs writes only the first of them (encapsulated pixel data is not supported)`);
    const value = values[0];
    if (value === undefined) return;
    let bytes: Uint8Array;
    if (value instanceof ArrayBuffer) bytes = new Uint8Array(value);
    // The view's own bytes: dcmjs takes them from the start of the view's buffer, the same only for a view at offset 0.
    else if (ArrayBuffer.isView(value)) bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    else fault(path, element, `the value must be an ArrayBuffer or a typed array; got ${kindOf(value)}`);
    this.reserve(bytes.length + 1);
    this.bytes.set(bytes, this.position);
    this.position += bytes.length;
  }

  private numbers(element: Element, path: string, type: NumberVr): void {
    const values = listOf(element.value);
    this.reserve(values.length * type.size);
    for (const value of values) {
      if (typeof value !== 'number' || (type.integer && !(Number.isInteger(value) && value >= type.min && value <= type.max))) {
        const wanted = type.integer ? `an integer from ${type.min} to ${type.max}` : 'a number';
        refuse(path, element, `${describeValue(value)} is not ${wanted}`, `a value that is not ${wanted}`);
      }
      type.write(this.bytes, value, this.position);
      this.position += type.size;
    }
  }

  /** UV: bigints, or numbers that are exact integers. */
  private veryLongs(element: Element, path: string): void {
    const values = listOf(element.value);
    this.reserve(values.length * 8);
    for (const value of values) {
      const big = typeof value === 'bigint' ? value : typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : undefined;
      if (big === undefined || big < 0n || big >= 1n << 64n) refuse(path, element, `${describeValue(value)} is not an integer from 0 to 2^64-1`, 'a value that is not an integer from 0 to 2^64-1');
      this.bytes.writeBigUInt64LE(big, this.position);
      this.position += 8;
    }
  }
}

/** One value of a string VR as text: strings as they are, numbers as dcmjs turns them into text. */
function text(element: Element, path: string, value: unknown): string {
  if (typeof value === 'string') {
    return element.vr === 'DS' ? decimalText(element, path, value) : value;
  }
  if (typeof value !== 'number') refuse(path, element, `${describeValue(value)} is not a string or a number`, 'a value that is not a string or a number');
  if (element.vr === 'DS' || element.vr === 'IS') {
    if (!Number.isFinite(value) || (element.vr === 'IS' && !Number.isInteger(value))) refuse(path, element, `${value} is not ${element.vr === 'IS' ? 'an integer' : 'a finite number'}`, `a value that is not ${element.vr === 'IS' ? 'an integer' : 'a finite number'}`);
    return element.vr === 'DS' ? decimalText(element, path, String(value)) : String(value);
  }
  return String(value);
}

/**
 * A decimal string as dcmjs writes it: the shortest form of a number (String()), cut to 16
 * characters when longer. Cutting only drops digits after the decimal point when that point
 * is among the first 16 characters and there is no exponent (51.650000000000006, float error
 * from arithmetic, becomes 51.6500000000000); otherwise it would change the number's magnitude,
 * so that is refused.
 */
function decimalText(element: Element, path: string, value: string): string {
  const max = MAX_CHARACTERS.DS!.single;
  if (value.length <= max) return value;
  const point = value.indexOf('.');
  if (point === -1 || point > max || /e/i.test(value)) refuse(path, element, `'${value}' is ${value.length} characters; DS allows at most ${max}`, `a value of ${value.length} characters; DS allows at most ${max}`);
  return value.slice(0, max);
}

/**
 * A PN value as dcmjs writes it: each name a string ("Family^Given=Ideographic=Phonetic") or
 * an object of component groups ({ Alphabetic, Ideographic, Phonetic }), empty strings left out,
 * the rest joined by backslashes.
 */
function personName(element: Element, path: string): string {
  const names: string[] = [];
  for (const value of listOf(element.value)) {
    if (typeof value === 'number') names.push(String(value));
    else if (typeof value === 'string') {
      if (value !== '') names.push(value);
    } else if (value instanceof String) names.push(value.valueOf());
    else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const groups = ['Alphabetic', 'Ideographic', 'Phonetic'].map((key) => (value as Record<string, unknown>)[key] ?? '');
      if (groups.some((group) => typeof group !== 'string')) refuse(path, element, `${describeValue(value)} has a component group that is not a string`, 'a name with a component group that is not a string');
      names.push(groups.join('=').replace(/=*$/, ''));
    } else refuse(path, element, `${describeValue(value)} is not a person name (a string, or an object of Alphabetic, Ideographic and Phonetic)`, 'a value that is not a person name');
  }
  const joined = names.join(BACKSLASH);
  for (const name of joined.split(BACKSLASH)) {
    for (const group of name.split('=')) {
      if (group.length > MAX_PN_COMPONENT_GROUP) refuse(path, element, `the component group '${group}' is ${group.length} characters; PN allows at most ${MAX_PN_COMPONENT_GROUP}`, `a component group of ${group.length} characters; PN allows at most ${MAX_PN_COMPONENT_GROUP}`);
    }
  }
  return joined;
}

function kindOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? (value.constructor?.name ?? 'an object') : typeof value;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  return kindOf(value);
}
