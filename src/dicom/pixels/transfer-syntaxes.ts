// Transfer syntax UIDs (PS3.5 section 10 and Annex A) that the decoder meets, and the two facts
// the parser needs about each: how the dataset is encoded and whether pixel data is native or
// encapsulated (compressed fragments).

export const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
export const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1.99';
export const EXPLICIT_VR_BIG_ENDIAN = '1.2.840.10008.1.2.2';
export const RLE_LOSSLESS = '1.2.840.10008.1.2.5';
/** JPEG Baseline (Process 1): 8-bit lossy. */
export const JPEG_BASELINE_8BIT = '1.2.840.10008.1.2.4.50';
/** JPEG Extended (Process 2 & 4): 8- or 12-bit lossy. */
export const JPEG_EXTENDED_12BIT = '1.2.840.10008.1.2.4.51';
/** JPEG Lossless, Non-Hierarchical (Process 14), any predictor. */
export const JPEG_LOSSLESS_PROCESS_14 = '1.2.840.10008.1.2.4.57';
/** JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14, Selection Value 1). */
export const JPEG_LOSSLESS_SV1 = '1.2.840.10008.1.2.4.70';
export const JPEG_LS_LOSSLESS = '1.2.840.10008.1.2.4.80';
export const JPEG_LS_NEAR_LOSSLESS = '1.2.840.10008.1.2.4.81';
export const JPEG_2000_LOSSLESS = '1.2.840.10008.1.2.4.90';
/** JPEG 2000 Image Compression (lossless or lossy). */
export const JPEG_2000 = '1.2.840.10008.1.2.4.91';

/** The transfer syntaxes whose pixel data `decodeImage` can turn into pixels. */
export const DECODABLE_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  IMPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_LITTLE_ENDIAN,
  DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_BIG_ENDIAN,
  RLE_LOSSLESS,
  JPEG_BASELINE_8BIT,
  JPEG_EXTENDED_12BIT,
  JPEG_LOSSLESS_PROCESS_14,
  JPEG_LOSSLESS_SV1,
  JPEG_LS_LOSSLESS,
  JPEG_LS_NEAR_LOSSLESS,
  JPEG_2000_LOSSLESS,
  JPEG_2000,
]);

const NATIVE_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  IMPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_LITTLE_ENDIAN,
  DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_BIG_ENDIAN,
]);

/** Whether pixel data is stored uncompressed ("native") rather than as encapsulated fragments. */
export function isNativeTransferSyntax(uid: string): boolean {
  return NATIVE_TRANSFER_SYNTAXES.has(uid);
}

/** How the data set's elements are encoded. Every syntax not listed natively is explicit VR LE. */
export function datasetEncoding(uid: string): { explicitVr: boolean; littleEndian: boolean; deflated: boolean } {
  return {
    explicitVr: uid !== IMPLICIT_VR_LITTLE_ENDIAN,
    littleEndian: uid !== EXPLICIT_VR_BIG_ENDIAN,
    deflated: uid === DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
  };
}
