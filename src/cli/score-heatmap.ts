// `mammocad score --heatmap DIR` (issue 16): a picture of where the model looks, per scored
// image, DIR/<SOP Instance UID>.png (the file's name without its extension when the file has no
// UID): the image with its heat map blended in, and the regions the model marks outlined, as the
// service marks them in the PACS (src/pipeline/score-study.ts): only on an image whose
// probability is at or above the operating threshold, cells at or above that threshold.

import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { HeatMap } from '../domain/index.js';
import { markedRegions, renderHeatMapOverlay } from '../ml/heatmap/index.js';
import type { GreyImage } from '../ml/preprocess/index.js';
import type { FileScore, HeatMapSink } from '../pipeline/score-files.js';
import { encodePngRgb } from '../training/evaluation/png.js';

/**
 * Longest side of a picture: enough to see the map's cells and the outlines on a screen, while a
 * full-field mammogram (4000 x 3000 pixels and more) would make a PNG of tens of MB.
 */
export const HEAT_MAP_PICTURE_MAX_SIZE = 1024;

/**
 * The sink that writes each scored image's picture into `dir` (which must exist) and returns
 * its path. `threshold`: the model's operating threshold, on the scale of the probabilities and
 * of the map; below half of it nothing is coloured, so the colour shows the cells that come
 * near it, not the whole breast.
 */
export function heatMapPictureWriter(dir: string, threshold: number): HeatMapSink {
  const taken = new Set<string>();
  return async (image: Readonly<FileScore>, decoded: GreyImage, heatMap: HeatMap): Promise<string> => {
    const regions = image.probability !== null && image.probability >= threshold ? markedRegions(heatMap, threshold) : [];
    const { width, height, rgb } = renderHeatMapOverlay(decoded, heatMap, { floor: threshold / 2, regions, maxSize: HEAT_MAP_PICTURE_MAX_SIZE });
    const file = path.join(dir, `${uniqueName(pictureName(image), taken)}.png`);
    // Written under a temporary name first, so a picture under its final name is always whole.
    await writeFile(`${file}.partial`, encodePngRgb(width, height, rgb));
    await rename(`${file}.partial`, file);
    return file;
  };
}

/** The SOP Instance UID, else the file's name without its extension, as a safe file name. */
function pictureName(image: Readonly<FileScore>): string {
  const name = image.sopInstanceUid ?? path.basename(image.file, path.extname(image.file));
  return name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || 'image';
}

/** `name`, or `name-2`, `name-3`, ... when a picture of this run already has it (the same file given twice). */
function uniqueName(name: string, taken: Set<string>): string {
  let unique = name;
  for (let n = 2; taken.has(unique); n++) unique = `${name}-${n}`;
  taken.add(unique);
  return unique;
}
