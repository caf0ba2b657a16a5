// The ROC curve as a PNG for the admin page: axes with ticks at 0.2, the chance diagonal, the
// curve (straight segments between achievable points, so a tie shows as its one diagonal step)
// and the title and AUC written with the built-in 5x7 font.

import { ValidationError } from '../../domain/index.js';
import { GLYPH_HEIGHT, GLYPH_WIDTH, glyph } from './bitmap-font.js';
import { encodePngRgb } from './png.js';
import { trapezoidArea } from './roc.js';

type Rgb = readonly [number, number, number];
const BLACK: Rgb = [0, 0, 0];
const GREY: Rgb = [170, 170, 170];
const BLUE: Rgb = [31, 90, 200];

export interface RocPngOptions {
  width?: number;
  height?: number;
  title?: string;
  /** The AUC written on the plot; by default the trapezoid area of the points. */
  auc?: number;
}

class Canvas {
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

/** Draws ROC points (fpr and tpr in [0, 1], in order of increasing fpr) as a PNG. */
export function rocPng(points: readonly { fpr: number; tpr: number }[], options: RocPngOptions = {}): Buffer {
  const width = options.width ?? 400;
  const height = options.height ?? 400;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 120 || height < 120 || width > 4096 || height > 4096) {
    throw new ValidationError('width/height', `must be integers within [120, 4096], got ${String(width)} x ${String(height)}`);
  }
  if (points.length < 2) throw new ValidationError('roc', 'needs at least two points');
  points.forEach((p, i) => {
    if (!(p.fpr >= 0 && p.fpr <= 1 && p.tpr >= 0 && p.tpr <= 1)) throw new ValidationError(`roc[${i}]`, 'fpr and tpr must be within [0, 1]');
  });
  const canvas = new Canvas(width, height);
  const scale = Math.min(width, height) >= 300 ? 2 : 1;
  const lineHeight = (GLYPH_HEIGHT + 3) * scale;
  const left = 8 + lineHeight + canvas.textWidth('0.0', scale) + 6;
  const right = width - Math.max(12, canvas.textWidth('1.0', scale) / 2 + 6);
  const top = 8 + (options.title ? lineHeight : 0) + 6;
  const bottom = height - (8 + 2 * lineHeight);
  const px = (fpr: number): number => left + fpr * (right - left);
  const py = (tpr: number): number => bottom - tpr * (bottom - top);

  if (options.title) canvas.text(Math.max(4, (width - canvas.textWidth(options.title, scale)) / 2), 8, options.title, BLACK, scale);

  // Chance diagonal, then the axes box and ticks.
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
  const xLabel = 'FALSE POSITIVE RATE';
  canvas.text((left + right - canvas.textWidth(xLabel, scale)) / 2, bottom + 6 + lineHeight, xLabel, BLACK, scale);
  // The y label, one character per line, down the left edge.
  const yLabel = 'TPR';
  [...yLabel].forEach((ch, i) => canvas.text(6, (top + bottom) / 2 - (yLabel.length * lineHeight) / 2 + i * lineHeight, ch, BLACK, scale));

  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    canvas.line(px(a.fpr), py(a.tpr), px(b.fpr), py(b.tpr), BLUE, 2);
  }

  const area = options.auc ?? trapezoidArea(points);
  const aucText = `AUC = ${area.toFixed(3)}`;
  canvas.text(right - 8 - canvas.textWidth(aucText, scale), bottom - 8 - GLYPH_HEIGHT * scale, aucText, BLUE, scale);

  return encodePngRgb(width, height, canvas.rgb);
}
