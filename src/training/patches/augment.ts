// Patch augmentation as in the paper's patch training (docs/method.md): flips, rotation up to
// 25 degrees, shear 0.2, zoom 0.8-1.2, intensity shift; like Keras' ImageDataGenerator, which the
// authors used, an affine map about the patch centre with bilinear sampling.
//
// Conventions (rows down, columns right; the patch centre at ((size - 1) / 2, (size - 1) / 2)):
//   - rotation: degrees, positive = counter-clockwise as the patch is displayed;
//   - shear: an angle in RADIANS (Keras 1.x, the authors' era; Keras 2.x reads shear_range as
//     degrees): columns shift by -sin(shear) * row offset, rows scale by cos(shear);
//   - zoom: > 1 magnifies the content (Keras' zoom factor is the inverse, a scale of the sampling
//     grid); rows and columns are zoomed independently, as Keras does;
//   - flips happen first, then zoom, shear and rotation;
//   - intensity shift: a constant added to every value (Keras' channel_shift_range, without its
//     clipping; patches are z-scored, so the shift is in units of the breast's deviation);
//   - outside the patch: the nearest edge value (Keras' default fill_mode 'nearest').

import { ValidationError } from '../../domain/errors.js';

export interface AugmentParams {
  flipHorizontal: boolean;
  flipVertical: boolean;
  rotationDeg: number;
  shear: number;
  zoomRows: number;
  zoomColumns: number;
  intensityShift: number;
}

export interface AugmentOptions {
  horizontalFlip: boolean;
  verticalFlip: boolean;
  /** Rotation drawn uniformly in [-r, r] degrees. */
  rotationRangeDeg: number;
  /** Shear angle drawn uniformly in [-s, s] radians. */
  shearRange: number;
  /** Zoom drawn uniformly in [low, high] per axis. */
  zoomRange: readonly [number, number];
  /** Shift drawn uniformly in [-s, s]. */
  intensityShiftRange: number;
}

export const PAPER_AUGMENTATION: Readonly<AugmentOptions> = {
  horizontalFlip: true,
  verticalFlip: true,
  rotationRangeDeg: 25,
  shearRange: 0.2,
  zoomRange: [0.8, 1.2],
  intensityShiftRange: 0.1,
};

export const IDENTITY_AUGMENTATION: Readonly<AugmentParams> = {
  flipHorizontal: false,
  flipVertical: false,
  rotationDeg: 0,
  shear: 0,
  zoomRows: 1,
  zoomColumns: 1,
  intensityShift: 0,
};

/** Draws one augmentation from `random` (always 7 draws, so sequences stay aligned). */
export function drawAugmentation(random: () => number, options: Partial<AugmentOptions> = {}): AugmentParams {
  const o = { ...PAPER_AUGMENTATION, ...options };
  const [low, high] = o.zoomRange;
  if (!(low > 0 && high >= low)) throw new ValidationError('zoomRange', `must be 0 < low <= high; got [${low}, ${high}]`);
  const uniform = (a: number, b: number) => a + random() * (b - a);
  const flipHorizontal = random() < 0.5 && o.horizontalFlip;
  const flipVertical = random() < 0.5 && o.verticalFlip;
  return {
    flipHorizontal,
    flipVertical,
    rotationDeg: uniform(-o.rotationRangeDeg, o.rotationRangeDeg),
    shear: uniform(-o.shearRange, o.shearRange),
    zoomRows: uniform(low, high),
    zoomColumns: uniform(low, high),
    intensityShift: uniform(-o.intensityShiftRange, o.intensityShiftRange),
  };
}

/**
 * The 2x2 forward map of offsets from the centre, [dRow, dColumn] -> [dRow', dColumn'], without
 * the flips: rotation . shear . zoom.
 */
export function forwardMatrix(p: AugmentParams): [number, number, number, number] {
  const theta = (p.rotationDeg * Math.PI) / 180;
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  // Rotation (counter-clockwise on screen, rows down): dr' = c dr - s dc, dc' = s dr + c dc.
  const rot = [c, -s, s, c] as const;
  // Shear: dc' = dc - sin(shear) dr, dr' = cos(shear) dr.
  const sh = [Math.cos(p.shear), 0, -Math.sin(p.shear), 1] as const;
  const zoom = [p.zoomRows, 0, 0, p.zoomColumns] as const;
  return multiply(multiply(rot, sh), zoom);
}

function multiply(a: readonly number[], b: readonly number[]): [number, number, number, number] {
  return [a[0]! * b[0]! + a[1]! * b[2]!, a[0]! * b[1]! + a[1]! * b[3]!, a[2]! * b[0]! + a[3]! * b[2]!, a[2]! * b[1]! + a[3]! * b[3]!];
}

/** Applies `params` to a height x width patch (row-major); returns a new array. */
export function augmentPatch(patch: Float32Array, height: number, width: number, params: AugmentParams): Float32Array {
  if (patch.length !== height * width) throw new ValidationError('patch', `${patch.length} values for ${height}x${width}`);
  const [a, b, c, d] = forwardMatrix(params);
  const det = a * d - b * c;
  if (!(Math.abs(det) > 1e-12)) throw new ValidationError('params', 'the transform is singular');
  // Inverse: output offset -> source offset (before the flips).
  const ia = d / det;
  const ib = -b / det;
  const ic = -c / det;
  const id = a / det;
  const cr = (height - 1) / 2;
  const cc = (width - 1) / 2;
  const out = new Float32Array(height * width);
  for (let y = 0; y < height; y++) {
    const dr = y - cr;
    for (let x = 0; x < width; x++) {
      const dc = x - cc;
      let sr = ia * dr + ib * dc + cr;
      let sc = ic * dr + id * dc + cc;
      // The flips were applied first, so undo them last.
      if (params.flipVertical) sr = height - 1 - sr;
      if (params.flipHorizontal) sc = width - 1 - sc;
      out[y * width + x] = bilinear(patch, height, width, sr, sc) + params.intensityShift;
    }
  }
  return out;
}

/** Bilinear sample at a fractional position, edges repeated; exact at integer positions. */
export function bilinear(src: Float32Array, height: number, width: number, row: number, column: number): number {
  const r = Math.min(height - 1, Math.max(0, row));
  const c = Math.min(width - 1, Math.max(0, column));
  // Snap positions within float noise of a pixel, so exact transforms stay exact.
  const rr = Math.abs(r - Math.round(r)) < 1e-9 ? Math.round(r) : r;
  const cc = Math.abs(c - Math.round(c)) < 1e-9 ? Math.round(c) : c;
  const r0 = Math.floor(rr);
  const c0 = Math.floor(cc);
  const r1 = Math.min(height - 1, r0 + 1);
  const c1 = Math.min(width - 1, c0 + 1);
  const fr = rr - r0;
  const fc = cc - c0;
  const top = src[r0 * width + c0]! * (1 - fc) + src[r0 * width + c1]! * fc;
  const bottom = src[r1 * width + c0]! * (1 - fc) + src[r1 * width + c1]! * fc;
  return top * (1 - fr) + bottom * fr;
}

/** Draws and applies one augmentation. */
export function randomAugment(patch: Float32Array, size: number, random: () => number, options: Partial<AugmentOptions> = {}): { pixels: Float32Array; params: AugmentParams } {
  const params = drawAugmentation(random, options);
  return { pixels: augmentPatch(patch, size, size, params), params };
}
