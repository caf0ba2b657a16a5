import { describe, expect, it } from 'vitest';
import { detectInvertedBackground, invertGreyLevels } from '../../src/training/datasets/background-inversion.js';
import { syntheticBreast } from '../support/grey-images.js';

// Synthetic films 120 wide, 160 high: the breast a half-ellipse against the chest wall.
const leftBreast = { centreRow: 80, centreColumn: 0, radiusRows: 70, radiusColumns: 80 };
const rightBreast = { centreRow: 80, centreColumn: 119, radiusRows: 70, radiusColumns: 80 };
// A large breast in the bottom-left corner: it covers most of the left and the bottom border.
const cornerBreast = { centreRow: 159, centreColumn: 0, radiusRows: 150, radiusColumns: 105 };

describe('detectInvertedBackground', () => {
  it('leaves a dark-background breast alone, on either side', () => {
    for (const placement of [leftBreast, rightBreast]) {
      const image = syntheticBreast(placement);
      const check = detectInvertedBackground(image.pixels, image.width, image.height);
      expect(check.inverted).toBe(false);
      expect(check.backgroundLevel).toBeLessThan(15);
      expect(check.tissueMedian).toBeGreaterThan(100);
    }
  });

  it('finds a bright-background breast (MONOCHROME1 stored raw), on either side', () => {
    for (const placement of [leftBreast, rightBreast]) {
      const image = syntheticBreast({ ...placement, inverted: true });
      const check = detectInvertedBackground(image.pixels, image.width, image.height);
      expect(check.inverted).toBe(true);
      expect(check.backgroundLevel).toBeGreaterThan(240);
      expect(check.reason).toMatch(/brighter than the breast/);
    }
  });

  it('decides right when the breast touches two borders and fills a corner', () => {
    const dark = syntheticBreast(cornerBreast);
    // The breast holds most of the border: the test must not take its share for background.
    const tissueOnBorder = [...Array(dark.height).keys()].filter((y) => dark.pixels[y * dark.width]! > 50).length;
    expect(tissueOnBorder).toBeGreaterThan(0.9 * dark.height);
    expect(detectInvertedBackground(dark.pixels, dark.width, dark.height).inverted).toBe(false);
    const bright = syntheticBreast({ ...cornerBreast, inverted: true });
    expect(detectInvertedBackground(bright.pixels, bright.width, bright.height).inverted).toBe(true);
  });

  it('is not fooled by a bright marker in a corner of a dark-background film, nor a dark one on a bright film', () => {
    const marked = syntheticBreast(rightBreast);
    const markedBright = syntheticBreast({ ...rightBreast, inverted: true });
    for (let y = 0; y < 25; y++) {
      for (let x = 0; x < 25; x++) {
        marked.pixels[y * marked.width + x] = 255;
        markedBright.pixels[y * markedBright.width + x] = 0;
      }
    }
    expect(detectInvertedBackground(marked.pixels, marked.width, marked.height).inverted).toBe(false);
    expect(detectInvertedBackground(markedBright.pixels, markedBright.width, markedBright.height).inverted).toBe(true);
  });

  it('works on 16-bit levels', () => {
    const image = syntheticBreast({ ...leftBreast, max: 4095, background: 40, tissue: [1200, 3500], inverted: true });
    expect(detectInvertedBackground(image.pixels, image.width, image.height)).toMatchObject({ inverted: true });
  });

  it('abstains (not inverted) on an almost empty image, whatever its background', () => {
    for (const inverted of [false, true]) {
      // A breast of a few pixels: far under 2% of the image.
      const image = syntheticBreast({ centreRow: 80, centreColumn: 0, radiusRows: 6, radiusColumns: 6, inverted });
      const check = detectInvertedBackground(image.pixels, image.width, image.height);
      expect(check.inverted).toBe(false);
      expect(check.reason).toMatch(/almost nothing but background/);
    }
  });

  it('abstains on a flat image and on one without a flat background', () => {
    expect(detectInvertedBackground(new Uint8Array(100).fill(200), 10, 10)).toMatchObject({ inverted: false, backgroundLevel: null, reason: expect.stringMatching(/flat/) });
    // Uniform noise over the whole range: no grey band holds a fifth of the border.
    let s = 1;
    const noise = Uint8Array.from({ length: 100 * 100 }, () => (s = (s * 48271) % 2147483647) % 256);
    const check = detectInvertedBackground(noise, 100, 100);
    expect(check.inverted).toBe(false);
    expect(check.reason).toMatch(/no flat background along the border/);
  });

  it('refuses fewer pixels than width x height', () => {
    expect(() => detectInvertedBackground(new Uint8Array(10), 4, 4)).toThrow(RangeError);
  });
});

describe('invertGreyLevels', () => {
  it('maps v to max + min - v, keeping the range and the array type', () => {
    const pixels = new Uint16Array([10, 20, 250, 4000]);
    invertGreyLevels(pixels);
    expect([...pixels]).toEqual([4000, 3990, 3760, 10]);
    const image = syntheticBreast({ ...leftBreast, inverted: true });
    invertGreyLevels(image.pixels);
    expect(detectInvertedBackground(image.pixels, image.width, image.height).inverted).toBe(false);
  });
});
