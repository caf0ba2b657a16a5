// The two gradients of a depthwise convolution for the wasm backend, which has the forward
// kernel (DepthwiseConv2dNative) but neither DepthwiseConv2dNativeBackpropInput nor ...Filter
// (tfjs-backend-wasm 4.22): without them MobileNet cannot be fine-tuned. The cpu backend has
// both, about 1000x slower than wasm overall, so it is no fallback.
//
// A depthwise convolution does 9 multiply-adds per output value for a 3x3 kernel, a few per
// cent of a MobileNet's work (the 1x1 pointwise convolutions, which go through Conv2D's kernels,
// are the rest), so plain JavaScript loops over the wasm heap are fast enough: the channel axis
// is innermost (NHWC), every loop walks memory in order, and no temporaries are allocated.
//
// With input x [N, H, W, C], filter w [kh, kw, C, m] and output dy [N, OH, OW, C * m] (channel
// c with multiplier q -> output channel c * m + q), for every tap (i, j) and output position:
//   dx[n, oh*s - top + i, ow*s - left + j, c] += dy[n, oh, ow, c*m + q] * w[i, j, c, q]
//   dw[i, j, c, q]                          += dy[n, oh, ow, c*m + q] * x[n, oh*s - top + i, ow*s - left + j, c]
// Padded positions (outside the input) contribute nothing. Dilation 1 only, as the forward
// kernel of wasm supports.

import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type TensorInfo = tf.TensorInfo;
interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}
interface DepthwiseAttrs {
  strides: [number, number] | number;
  dilations: [number, number] | number;
  pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function convInfo(xShape: number[], filterShape: number[], attrs: DepthwiseAttrs): tf.backend_util.Conv2DInfo {
  const dilations = attrs.dilations ?? 1;
  if ([dilations].flat().some((d) => d !== 1)) throw new Error('depthwise convolution gradients on wasm: dilation other than 1 is not supported');
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
}

/** Calls `visit(inBase, outBase)` for every (image, output position, tap) whose input position lies inside the image. */
function forEachTap(info: tf.backend_util.Conv2DInfo, visit: (inBase: number, outBase: number, tap: number) => void): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  for (let n = 0; n < batchSize; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let i = 0; i < filterHeight; i++) {
        const ih = oh * strideHeight - top + i;
        if (ih < 0 || ih >= inHeight) continue;
        for (let ow = 0; ow < outWidth; ow++) {
          const outBase = ((n * outHeight + oh) * outWidth + ow) * outChannels;
          for (let j = 0; j < filterWidth; j++) {
            const iw = ow * strideWidth - left + j;
            if (iw < 0 || iw >= inWidth) continue;
            visit(((n * inHeight + ih) * inWidth + iw) * inChannels, outBase, i * filterWidth + j);
          }
        }
      }
    }
  }
}

/** dx of a depthwise convolution: inputs {dy, filter}, attrs {inputShape, strides, pad, ...}. */
export function depthwiseConv2dBackpropInput(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as unknown as DepthwiseAttrs & { inputShape: number[] };
  const info = convInfo(attrs.inputShape, filter.shape, attrs);
  const channels = info.inChannels;
  const multiplier = info.outChannels / channels;
  const dx = backend.makeOutput(attrs.inputShape, 'float32');
  // Views after makeOutput: it may grow the heap, which detaches older views.
  const dxValues = backend.typedArrayFromHeap(dx) as Float32Array;
  const dyValues = backend.typedArrayFromHeap(dy) as Float32Array;
  const w = backend.typedArrayFromHeap(filter) as Float32Array;
  dxValues.fill(0);
  const tapSize = channels * multiplier;
  if (multiplier === 1) {
    forEachTap(info, (inBase, outBase, tap) => {
      const wBase = tap * tapSize;
      for (let c = 0; c < channels; c++) dxValues[inBase + c]! += dyValues[outBase + c]! * w[wBase + c]!;
    });
  } else {
    forEachTap(info, (inBase, outBase, tap) => {
      const wBase = tap * tapSize;
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let q = 0; q < multiplier; q++) sum += dyValues[outBase + c * multiplier + q]! * w[wBase + c * multiplier + q]!;
        dxValues[inBase + c]! += sum;
      }
    });
  }
  return dx;
}

/** dw of a depthwise convolution: inputs {x, dy}, attrs {filterShape, strides, pad, ...}. */
export function depthwiseConv2dBackpropFilter(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs as unknown as DepthwiseAttrs & { filterShape: number[] };
  const info = convInfo(x.shape, attrs.filterShape, attrs);
  const channels = info.inChannels;
  const multiplier = info.outChannels / channels;
  // Accumulated in float64 (a sum over every position of every image), written once at the end.
  const sums = new Float64Array(attrs.filterShape.reduce((a, b) => a * b, 1));
  const xValues = backend.typedArrayFromHeap(x) as Float32Array;
  const dyValues = backend.typedArrayFromHeap(dy) as Float32Array;
  const tapSize = channels * multiplier;
  forEachTap(info, (inBase, outBase, tap) => {
    const wBase = tap * tapSize;
    if (multiplier === 1) {
      for (let c = 0; c < channels; c++) sums[wBase + c]! += dyValues[outBase + c]! * xValues[inBase + c]!;
      return;
    }
    for (let c = 0; c < channels; c++) {
      const xv = xValues[inBase + c]!;
      for (let q = 0; q < multiplier; q++) sums[wBase + c * multiplier + q]! += dyValues[outBase + c * multiplier + q]! * xv;
    }
  });
  const dw = backend.makeOutput(attrs.filterShape, 'float32');
  (backend.typedArrayFromHeap(dw) as Float32Array).set(sums);
  return dw;
}
