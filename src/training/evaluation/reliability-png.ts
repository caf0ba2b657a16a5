// The reliability diagram as a PNG for the package report: per probability bin, the mean
// predicted probability (x) against the observed share of malignant images (y), a dot sized by
// the bin's count, joined by lines; the diagonal is perfect calibration. Two series can be
// drawn (e.g. raw and calibrated), each with its expected calibration error in the legend.

import { ValidationError } from '../../domain/index.js';
import { GLYPH_HEIGHT } from './bitmap-font.js';
import type { Reliability } from './calibration.js';
import { BLUE, ORANGE, unitPlot, type Rgb } from './plot-canvas.js';
import { encodePngRgb } from './png.js';

export interface ReliabilitySeries {
  label: string;
  reliability: Reliability;
}

const COLOURS: readonly Rgb[] = [ORANGE, BLUE];

export function reliabilityPng(series: readonly ReliabilitySeries[], options: { width?: number; height?: number; title?: string } = {}): Buffer {
  if (series.length === 0 || series.length > COLOURS.length) throw new ValidationError('series', `must be 1 to ${COLOURS.length} reliability series`);
  const { canvas, scale, left, top, px, py } = unitPlot({ ...options, xLabel: 'MEAN PREDICTED', yLabel: 'OBSERVED' });
  series.forEach(({ label, reliability }, s) => {
    const colour = COLOURS[s]!;
    const total = reliability.bins.reduce((sum, b) => sum + b.n, 0);
    const filled = reliability.bins.filter((b) => b.n > 0);
    filled.forEach((b, i) => {
      const x = px(b.meanPredicted!);
      const y = py(b.observed!);
      const radius = 1 + Math.round(5 * Math.sqrt(b.n / Math.max(1, total)));
      for (let dy = -radius; dy <= radius; dy++) for (let dx = -radius; dx <= radius; dx++) if (dx * dx + dy * dy <= radius * radius) canvas.set(x + dx, y + dy, colour);
      const next = filled[i + 1];
      if (next) canvas.line(x, y, px(next.meanPredicted!), py(next.observed!), colour, 2);
    });
    const legend = `${label.toUpperCase()} ECE ${reliability.ece.toFixed(3)}`;
    canvas.text(left + 8, top + 6 + s * (GLYPH_HEIGHT + 4) * scale, legend, colour, scale);
  });
  return encodePngRgb(canvas.width, canvas.height, canvas.rgb);
}
