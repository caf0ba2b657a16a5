// Images of an image folder (manifest.csv + JPEG/PNG, training/datasets/image-folder.ts) as DICOM
// MG "For Presentation" objects, one study per woman, so a test can put the very images the
// file path scores through the PACS path. Two encodings: 'native' writes the grey samples as
// stored, MONOCHROME1 where the reader found the image inverted (so the decoder's inversion
// stands in for the reader's); 'jpeg-baseline' encapsulates the JPEG file's bytes as they are,
// which puts the service's JPEG codec on the path (not for inverted images: a 3-component
// stream is YBR, and only a grey one can say MONOCHROME1).

import { readFile } from 'node:fs/promises';
import { buildMammogramImage, type MammogramImage } from '../../src/dicom/convert/image-to-dicom.js';
import { decodeCompressedFrame } from '../../src/dicom/pixels/codecs.js';
import { JPEG_BASELINE_8BIT } from '../../src/dicom/pixels/transfer-syntaxes.js';
import type { TrainingImage } from '../../src/training/datasets/dataset.js';
import { readImageFileGrey } from '../../src/training/datasets/image-folder.js';

export type FolderImageEncoding = 'native' | 'jpeg-baseline';

export interface FolderImageDicom extends MammogramImage {
  image: TrainingImage;
  inverted: boolean;
  encoding: FolderImageEncoding;
}

/**
 * Wraps each image (the reader's, as readImageFolderDataset lists them). Loads each once through
 * the reader first, which is what records `attributes.inverted`. `uidSeed` makes a distinct copy
 * (own study, series and instance UIDs) of images wrapped before.
 */
export async function folderImagesAsDicom(
  images: readonly TrainingImage[],
  options: { encoding: FolderImageEncoding; collection: string; uidSeed?: string },
): Promise<FolderImageDicom[]> {
  const out: FolderImageDicom[] = [];
  const perWoman = new Map<string, number>();
  for (const image of images) {
    if (image.view !== 'CC' && image.view !== 'MLO') throw new Error(`${image.id}: view ${image.view} is neither CC nor MLO`);
    await image.loadPixels();
    const inverted = image.attributes.inverted === 'true';
    const stored = await readImageFileGrey(image.source);
    if (!(stored.pixels instanceof Uint8Array)) throw new Error(`${image.id}: not an 8-bit image`);
    const instanceNumber = (perWoman.get(image.womanId) ?? 0) + 1;
    perWoman.set(image.womanId, instanceNumber);
    const { rows, columns } = { rows: stored.height, columns: stored.width };
    let pixels: Parameters<typeof buildMammogramImage>[0]['pixels'];
    if (options.encoding === 'native') {
      pixels = { encoding: 'native', rows, columns, samples: stored.pixels, photometricInterpretation: inverted ? 'MONOCHROME1' : 'MONOCHROME2' };
    } else {
      if (inverted) throw new Error(`${image.id} is stored inverted: a 3-component JPEG cannot be MONOCHROME1; wrap it as 'native'`);
      const stream = new Uint8Array(await readFile(image.source));
      // The codec says how many components the stream holds (the reader folded them to one).
      const frame = await decodeCompressedFrame(JPEG_BASELINE_8BIT, stream, { rows, columns, samplesPerPixel: 0, bitsAllocated: 8, bitsStored: 8, signed: false, photometricInterpretation: '' });
      if (frame.components !== 1 && frame.components !== 3) throw new Error(`${image.id}: a JPEG with ${frame.components} components`);
      pixels = { encoding: 'jpeg-baseline', rows, columns, samplesPerPixel: frame.components, stream };
    }
    const built = buildMammogramImage({
      imageId: image.id,
      patientId: image.womanId,
      patientName: `${options.collection.toUpperCase()}^${image.womanId}`,
      laterality: image.laterality,
      view: image.view,
      instanceNumber,
      collection: options.collection,
      seriesDescription: `${options.collection} export (${options.encoding})`,
      derivationDescription: `${options.collection} image ${image.id}, exported as 8-bit JPEG`,
      detectorType: '',
      // The export resized every image to a square: the detector's pixel size is lost.
      pixelSpacingMm: null,
      lossy: true,
      pixels,
      ...(options.uidSeed === undefined ? {} : { uidSeed: options.uidSeed }),
    });
    out.push({ ...built, image, inverted, encoding: options.encoding });
  }
  return out;
}
