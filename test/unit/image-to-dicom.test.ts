// buildMammogramImage: what the service reads back from the objects it writes (view selection
// and the decoder, not the builder's own idea of them): grey samples as MONOCHROME2 and
// MONOCHROME1 (decoded to the same picture), a baseline JPEG encapsulated byte for byte, the
// view, side and orientation, no spacing when none is known, and the inputs it refuses.

import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.js';
import { buildMammogramImage, type MammogramImageInput } from '../../src/dicom/convert/image-to-dicom.js';
import { readPart10 } from '../../src/dicom/part10.js';
import { decodeImage } from '../../src/dicom/pixels/decode-image.js';
import { selectView } from '../../src/dicom/view-selection.js';

const WIDTH = 12;
const HEIGHT = 10;

/** A "breast" on the left (bright, textured), dark background on the right: the decoder does not mirror it. */
function breastLeft(): Uint8Array {
  const pixels = new Uint8Array(WIDTH * HEIGHT);
  for (let y = 0; y < HEIGHT; y++) for (let x = 0; x < WIDTH; x++) pixels[y * WIDTH + x] = x < WIDTH / 2 ? 120 + ((x * 13 + y * 7) % 100) : 3;
  return pixels;
}

/**
 * The smallest baseline JPEG: one 8x8 grey block whose coefficients are all zero (one-code
 * Huffman tables: DC category 0, then end of block), which decodes to 128 everywhere.
 */
function tinyBaselineJpeg(sof = 0xc0): Uint8Array {
  const huffmanTable = (tableClass: number) => [0xff, 0xc4, 0x00, 0x14, tableClass, 0x01, ...new Array<number>(15).fill(0), 0x00];
  return new Uint8Array([
    ...[0xff, 0xd8],
    ...[0xff, 0xdb, 0x00, 0x43, 0x00, ...new Array<number>(64).fill(1)],
    ...[0xff, sof, 0x00, 0x0b, 0x08, 0x00, 0x08, 0x00, 0x08, 0x01, 0x01, 0x11, 0x00],
    ...huffmanTable(0x00),
    ...huffmanTable(0x10),
    ...[0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00],
    0x3f, // DC '0', EOB '0', padded with ones
    ...[0xff, 0xd9],
  ]);
}

function input(overrides: Partial<MammogramImageInput> = {}): MammogramImageInput {
  return {
    imageId: 'img-1',
    patientId: 'W1',
    patientName: 'TEST^W1',
    laterality: 'L',
    view: 'CC',
    instanceNumber: 1,
    collection: 'test-set',
    seriesDescription: 'test-set export',
    derivationDescription: 'made up for a test',
    detectorType: '',
    pixelSpacingMm: null,
    pixels: { encoding: 'native', rows: HEIGHT, columns: WIDTH, samples: breastLeft(), photometricInterpretation: 'MONOCHROME2' },
    ...overrides,
  };
}

describe('buildMammogramImage', () => {
  it('writes grey samples the decoder reads back as they were, with the view, side and no spacing', async () => {
    const built = buildMammogramImage(input());
    const file = readPart10(built.bytes, 'test');
    expect(file.transferSyntaxUid).toBe('1.2.840.10008.1.2.1');
    expect(file.dataset).toMatchObject({
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.1.2',
      SOPInstanceUID: built.sopInstanceUid,
      StudyInstanceUID: built.studyInstanceUid,
      PatientID: 'W1',
      PresentationIntentType: 'FOR PRESENTATION',
      ViewPosition: 'CC',
      PatientOrientation: ['A', 'R'],
      ViewCodeSequence: [expect.objectContaining({ CodeValue: '399162004', CodeMeaning: 'cranio-caudal' })],
      PresentationLUTShape: 'IDENTITY',
      LossyImageCompression: '00',
    });
    expect(file.dataset.PixelSpacing).toBeUndefined();
    expect(file.dataset.ImagerPixelSpacing).toBeUndefined();
    expect(selectView(file.dataset)).toMatchObject({ eligible: true, laterality: 'L', view: 'CC' });
    const decoded = await decodeImage(file);
    expect(decoded).toMatchObject({ width: WIDTH, height: HEIGHT, pixelSpacingMm: null, flippedHorizontally: false });
    expect([...decoded.pixels]).toEqual([...breastLeft()]);
  });

  it('writes MONOCHROME1 for samples stored inverted, which the decoder turns back into the upright picture', async () => {
    const inverted = breastLeft().map((v) => 255 - v);
    const built = buildMammogramImage(input({ laterality: 'R', view: 'MLO', pixels: { encoding: 'native', rows: HEIGHT, columns: WIDTH, samples: inverted, photometricInterpretation: 'MONOCHROME1' } }));
    const file = readPart10(built.bytes, 'test');
    expect(file.dataset).toMatchObject({ PhotometricInterpretation: 'MONOCHROME1', PresentationLUTShape: 'INVERSE', PatientOrientation: ['P', 'FL'], ViewPosition: 'MLO' });
    const decoded = await decodeImage(file);
    expect([...decoded.pixels]).toEqual([...breastLeft()]);
  });

  it('encapsulates a baseline JPEG byte for byte under JPEG Baseline, which the decoder reads', async () => {
    const stream = tinyBaselineJpeg();
    const built = buildMammogramImage(input({ pixelSpacingMm: 0.085, pixels: { encoding: 'jpeg-baseline', rows: 8, columns: 8, samplesPerPixel: 1, stream } }));
    const file = readPart10(built.bytes, 'test');
    expect(file.transferSyntaxUid).toBe('1.2.840.10008.1.2.4.50');
    expect(file.dataset).toMatchObject({ PhotometricInterpretation: 'MONOCHROME2', LossyImageCompression: '01', LossyImageCompressionMethod: 'ISO_10918_1', PixelSpacing: [0.085, 0.085] });
    // The one frame is the stream, padded to even length.
    expect([...file.frames.get(0).subarray(0, stream.length)]).toEqual([...stream]);
    const decoded = await decodeImage(file);
    expect(decoded).toMatchObject({ width: 8, height: 8, pixelSpacingMm: [0.085, 0.085] });
    expect(new Set(decoded.pixels)).toEqual(new Set([128]));
  });

  it('gives the same UIDs for the same names and other ones for another seed', () => {
    const a = buildMammogramImage(input());
    expect(buildMammogramImage(input()).bytes).toEqual(a.bytes);
    const copy = buildMammogramImage(input({ uidSeed: 'copy' }));
    expect([copy.studyInstanceUid, copy.seriesInstanceUid, copy.sopInstanceUid].filter((uid) => [a.studyInstanceUid, a.seriesInstanceUid, a.sopInstanceUid].includes(uid))).toEqual([]);
  });

  it.each([
    ['a sample count that does not match the size', input({ pixels: { encoding: 'native', rows: 3, columns: 3, samples: new Uint8Array(8), photometricInterpretation: 'MONOCHROME2' } }), /pixels: 8 samples for 3x3/],
    ['a size DICOM cannot hold', input({ pixels: { encoding: 'native', rows: 70_000, columns: 1, samples: new Uint8Array(70_000), photometricInterpretation: 'MONOCHROME2' } }), /70000x1 is not a size/],
    ['a progressive JPEG', input({ pixels: { encoding: 'jpeg-baseline', rows: 8, columns: 8, samplesPerPixel: 1, stream: tinyBaselineJpeg(0xc2) } }), /not a baseline 8-bit JPEG \(frame marker 0xc2/],
    ['a truncated JPEG', input({ pixels: { encoding: 'jpeg-baseline', rows: 8, columns: 8, samplesPerPixel: 1, stream: tinyBaselineJpeg().subarray(0, 120) } }), /does not end with an EOI marker/],
    ['a negative pixel spacing', input({ pixelSpacingMm: -0.1 }), /pixelSpacingMm: must be positive or null/],
    ['a study date that is not YYYYMMDD', input({ studyDate: '2024-01-01' }), /studyDate: must be YYYYMMDD/],
  ])('refuses %s', (_what, bad, message) => {
    expect(() => buildMammogramImage(bad)).toThrow(ValidationError);
    expect(() => buildMammogramImage(bad)).toThrow(message);
  });
});
