// Reads the Transfer Syntax UID from a Part 10 file's meta header (group 0002, always explicit
// VR little endian) without parsing the dataset: cheap enough to run on every retrieval.

const PREAMBLE = 128;

/** The (0002,0010) value, or null when the bytes are not a Part 10 file or lack it. */
export function transferSyntaxOf(bytes: Uint8Array): string | null {
  if (bytes.byteLength < PREAMBLE + 4) return null;
  if (String.fromCharCode(...bytes.subarray(PREAMBLE, PREAMBLE + 4)) !== 'DICM') return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = PREAMBLE + 4;
  while (offset + 8 <= bytes.byteLength) {
    const group = view.getUint16(offset, true);
    const element = view.getUint16(offset + 2, true);
    if (group !== 0x0002) return null;
    const vr = String.fromCharCode(bytes[offset + 4]!, bytes[offset + 5]!);
    const long = vr === 'OB' || vr === 'OW' || vr === 'UN' || vr === 'SQ' || vr === 'UT' || vr === 'UC' || vr === 'UR';
    const length = long ? view.getUint32(offset + 8, true) : view.getUint16(offset + 6, true);
    const valueStart = offset + (long ? 12 : 8);
    if (valueStart + length > bytes.byteLength) return null;
    if (element === 0x0010) {
      return new TextDecoder('latin1').decode(bytes.subarray(valueStart, valueStart + length)).replace(/[\0\s]+$/, '');
    }
    offset = valueStart + length;
  }
  return null;
}
