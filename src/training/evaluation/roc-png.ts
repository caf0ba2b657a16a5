// The ROC curve as a PNG for the admin page: axes with ticks at 0.2, the chance diagonal, the
// curve (straight segments between achievable points, so a tie shows as its one diagonal step)
// and the title and AUC written with the built-in 5x7 font.

import { ValidationError } from '../../domain/index.js';
import { GLYPH_HEIGHT } from './bitmap-font.js';
import { BLUE, unitPlot } from './plot-canvas.js';
import { encodePngRgb } from './png.js';
import { trapezoidArea } from './roc.js';

export interface RocPngOptions {
  width?: number;
  height?: number;
  title?: string;
  /** The AUC written on the plot; by default the trapezoid area of the points. */
  auc?: number;
}

/** Draws ROC points (fpr and tpr in [0, 1], in order of increasing fpr) as a PNG. */
export function rocPng(points: readonly { fpr: number; tpr: number }[], options: RocPngOptions = {}): Buffer {
  const { canvas, scale, right, bottom, px, py } = unitPlot({ width: options.width, height: options.height, title: options.title, xLabel: 'FALSE POSITIVE RATE', yLabel: 'TPR' });
  if (points.length < 2) throw new ValidationError('roc', 'needs at least two points');
  points.forEach((p, i) => {
    if (!(p.fpr >= 0 && p.fpr <= 1 && p.tpr >= 0 && p.tpr <= 1)) throw new ValidationError(`roc[${i}]`, 'fpr and tpr must be within [0, 1]');
  });

  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    canvas.line(px(a.fpr), py(a.tpr), px(b.fpr), py(b.tpr), BLUE, 2);
  }

  const area = options.auc ?? trapezoidArea(points);
  const aucText = `AUC = ${area.toFixed(3)}`;
  canvas.text(right - 8 - canvas.textWidth(aucText, scale), bottom - 8 - GLYPH_HEIGHT * scale, aucText, BLUE, scale);

  return encodePngRgb(canvas.width, canvas.height, canvas.rgb);
}
