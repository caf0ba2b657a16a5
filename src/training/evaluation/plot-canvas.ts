// A small raster canvas for the report's plots (ROC curve, reliability diagram): lines, the
// built-in 5x7 font, and a unit-square plot frame with ticks at 0.2 and axis labels. Written
// here so the package report needs no plotting dependency.

import { ValidationError } from '../../domain/index.js';
import { GLYPH_HEIGHT, GLYPH_WIDTH, glyph } from './bitmap-font.js';

export type Rgb = readonly [number, number, number];
export const BLACK: Rgb = [0, 0, 0];
export const GREY: Rgb = [170, 170, 170];
export const BLUE: Rgb = [31, 90, 200];
export const ORANGE: Rgb = [220, 110, 20];

export class Canvas {
  readonly rgb: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.rgb = new Uint8Array(width * height * 3).fill(255);
  }

  set(x: number, y: number, c: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.rgb.set(c, (y * this.width + x) * 3);
  }

  /** A line of the given thickness; `dash` > 0 draws dash-long pieces with equal gaps. */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thickness = 1, dash = 0): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    const r = (thickness - 1) / 2;
    for (let i = 0; i <= steps; i++) {
      if (dash > 0 && Math.floor(i / dash) % 2 === 1) continue;
      const x = x0 + ((x1 - x0) * i) / steps;
      const y = y0 + ((y1 - y0) * i) / steps;
      for (let dy = -Math.floor(r); dy <= Math.ceil(r); dy++) for (let dx = -Math.floor(r); dx <= Math.ceil(r); dx++) this.set(x + dx, y + dy, c);
    }
  }

  textWidth(text: string, scale: number): number {
    return text.length === 0 ? 0 : (text.length * (GLYPH_WIDTH + 1) - 1) * scale;
  }

  /** Text with its top-left corner at (x, y); characters without a glyph are left blank. */
  text(x: number, y: number, text: string, c: Rgb, scale = 1): void {
    [...text].forEach((ch, i) => {
      const g = glyph(ch);
      if (g === undefined) return;
      const ox = x + i * (GLYPH_WIDTH + 1) * scale;
      for (let row = 0; row < GLYPH_HEIGHT; row++) {
        for (let col = 0; col < GLYPH_WIDTH; col++) {
          if (!g[row * GLYPH_WIDTH + col]) continue;
          for (let sy = 0; sy < scale; sy++) for (let sx = 0; sx < scale; sx++) this.set(ox + col * scale + sx, y + row * scale + sy, c);
        }
      }
    });
  }
}

export interface UnitPlot {
  canvas: Canvas;
  scale: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  /** Canvas x of a value in [0, 1]. */
  px: (v: number) => number;
  /** Canvas y of a value in [0, 1]. */
  py: (v: number) => number;
}

/** A canvas with a unit-square plot: title, dashed diagonal, axes, ticks at 0.2, axis labels. */
export function unitPlot(options: { width?: number; height?: number; title?: string; xLabel: string; yLabel: string }): UnitPlot {
  const width = options.width ?? 400;
  const height = options.height ?? 400;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 120 || height < 120 || width > 4096 || height > 4096) {
    throw new ValidationError('width/height', `must be integers within [120, 4096], got ${String(width)} x ${String(height)}`);
  }
  const canvas = new Canvas(width, height);
  const scale = Math.min(width, height) >= 300 ? 2 : 1;
  const lineHeight = (GLYPH_HEIGHT + 3) * scale;
  const left = 8 + lineHeight + canvas.textWidth('0.0', scale) + 6;
  const right = width - Math.max(12, canvas.textWidth('1.0', scale) / 2 + 6);
  const top = 8 + (options.title ? lineHeight : 0) + 6;
  const bottom = height - (8 + 2 * lineHeight);
  const px = (v: number): number => left + v * (right - left);
  const py = (v: number): number => bottom - v * (bottom - top);

  if (options.title) canvas.text(Math.max(4, (width - canvas.textWidth(options.title, scale)) / 2), 8, options.title, BLACK, scale);
  // The diagonal (chance for a ROC, perfect calibration for a reliability diagram), then the axes box and ticks.
  canvas.line(px(0), py(0), px(1), py(1), GREY, 1, 4);
  canvas.line(left, top, left, bottom, BLACK);
  canvas.line(left, bottom, right, bottom, BLACK);
  canvas.line(right, top, right, bottom, GREY);
  canvas.line(left, top, right, top, GREY);
  for (let t = 0; t <= 5; t++) {
    const v = t / 5;
    const label = v.toFixed(1);
    canvas.line(px(v), bottom, px(v), bottom + 4, BLACK);
    canvas.text(px(v) - canvas.textWidth(label, scale) / 2, bottom + 6, label, BLACK, scale);
    canvas.line(left - 4, py(v), left, py(v), BLACK);
    canvas.text(left - 6 - canvas.textWidth(label, scale), py(v) - (GLYPH_HEIGHT * scale) / 2, label, BLACK, scale);
  }
  canvas.text((left + right - canvas.textWidth(options.xLabel, scale)) / 2, bottom + 6 + lineHeight, options.xLabel, BLACK, scale);
  // The y label, one character per line, down the left edge.
  [...options.yLabel].forEach((ch, i) => canvas.text(6, (top + bottom) / 2 - (options.yLabel.length * lineHeight) / 2 + i * lineHeight, ch, BLACK, scale));
  return { canvas, scale, left, right, top, bottom, px, py };
}
