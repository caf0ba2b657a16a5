// The heat map's value per cell before calibration: the positive class's logit against the
// others, log(p / (1 - p)) of the cell's softmax over its class logits (the "heatmap" output of
// src/ml/onnx/export-onnx.ts). With two classes it is the difference of the two logits, and the
// mean over the cells is the image's log(p / (1 - p)): global average pooling and the dense
// layer are both linear, so averaging the cells' logits is pooling before the dense layer.

/** log(p / (1 - p)) of class `positive` of the softmax of `logits`, without overflow. */
export function positiveLogit(logits: ArrayLike<number>, positive: number): number {
  if (logits.length === 2) return logits[positive]! - logits[1 - positive]!;
  let max = -Infinity;
  for (let k = 0; k < logits.length; k++) if (k !== positive) max = Math.max(max, logits[k]!);
  let sum = 0;
  for (let k = 0; k < logits.length; k++) if (k !== positive) sum += Math.exp(logits[k]! - max);
  return logits[positive]! - (max + Math.log(sum));
}
