// DICOM files of the public data sets (CBIS-DDSM, INbreast) as training pixels. decodeImage
// turns every breast to the left for the classifier; lesion coordinates of these data sets are
// in the stored image, so the pixels are turned back: what a trainer gets lines up with the
// ROIs, and any flipping is the trainer's own (augmentation) decision.

import { readFile } from 'node:fs/promises';
import { DatasetError, MammocadError } from '../../domain/errors.js';
import { readPart10, type DicomFile } from '../../dicom/part10.js';
import { decodeImage, type DecodedImage } from '../../dicom/pixels/decode-image.js';
import { flipHorizontally } from '../../dicom/pixels/postprocess.js';
import type { TrainingPixels } from './dataset.js';

/** Reads and parses a DICOM file; a missing, unreadable or non-DICOM file is a DatasetError naming it. */
export async function readDicomFile(file: string): Promise<DicomFile> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new DatasetError(file, `cannot read the DICOM file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
  try {
    return readPart10(bytes, file);
  } catch (error) {
    if (error instanceof MammocadError) throw new DatasetError(file, `not a readable DICOM file: ${error.message}`, { cause: error });
    throw error;
  }
}

/** A decoded image in stored orientation (decodeImage's mirroring undone). */
export function storedOrientation(image: DecodedImage): TrainingPixels {
  if (image.flippedHorizontally) flipHorizontally(image.pixels, image.width, image.height);
  return { width: image.width, height: image.height, pixels: image.pixels, pixelSpacingMm: image.pixelSpacingMm };
}

/** Decodes a parsed file; decoder failures become DatasetErrors naming the file. */
export async function decodeDicomPixels(file: DicomFile): Promise<TrainingPixels> {
  try {
    return storedOrientation(await decodeImage(file));
  } catch (error) {
    if (error instanceof MammocadError) throw new DatasetError(file.source, `cannot decode the pixels: ${error.message}`, { cause: error });
    throw error;
  }
}

/** The grey pixels of a DICOM file, as stored. */
export async function readDicomPixels(file: string): Promise<TrainingPixels> {
  return decodeDicomPixels(await readDicomFile(file));
}
