// Re-ships the default model with heat maps (issue 16): default-rsna-2 was exported before the
// "heatmap" output existed, so the service could not show where it looks. This re-exports its
// model.onnx from its own tfjs/ weights with that output, checks on real rsna-screening images
// (the data it was trained on, through its own pre-processing and every test-time flip) that
// the probabilities are unchanged, and writes the result as a new package (a new model.onnx
// changes the package hash, hence a new version name). Replacing models/default with it is a
// separate, deliberate step (docs/training.md). models/default has been its output,
// default-rsna-2-hm, since 2026-12-04: run again, this refuses it (it already has heat maps);
// give --source default-rsna-2's package (e.g. the training run's) to make it anew.
//
//   npx tsx scripts/reship-default-heatmap.ts [--source models/default] [--target var/reship/default-rsna-2-hm]
//       [--version default-rsna-2-hm] [--images 8] [--data ../shared/data/rsna-screening] [--json]
//
// Images: the first `--images` of the folder by id, half with cancer and half without, so both
// classes and both of the folder's grey senses (16% are stored inverted) are likely among them.

import path from 'node:path';
import { parseArgs } from 'node:util';
import { addHeatMapOutput } from '../src/ml/registry/heat-map-reexport.js';
import type { GreyImage } from '../src/ml/preprocess/index.js';
import { readImageFolderDataset } from '../src/training/datasets/image-folder.js';
import { canonicalOf } from '../src/training/trainer/training-data.js';

const { values: args } = parseArgs({
  options: {
    source: { type: 'string', default: 'models/default' },
    target: { type: 'string', default: 'var/reship/default-rsna-2-hm' },
    version: { type: 'string', default: 'default-rsna-2-hm' },
    images: { type: 'string', default: '8' },
    data: { type: 'string', default: path.join(process.env.MAMMOCAD_SHARED_DATA_DIR ?? '../shared/data', 'rsna-screening') },
    json: { type: 'boolean', default: false },
  },
});

const count = Number(args.images);
if (!(Number.isInteger(count) && count >= 2)) throw new Error(`--images must be an integer of at least 2; got ${args.images}`);

const started = Date.now();
const dataset = await readImageFolderDataset(args.data, { name: 'rsna-screening' });
const malignant = dataset.images.filter((image) => image.malignant).slice(0, Math.ceil(count / 2));
const benign = dataset.images.filter((image) => !image.malignant).slice(0, count - malignant.length);
const chosen = [...malignant, ...benign];
// As the decoder would hand them to the runtime: inverted ones turned back, breast on the left.
const images: GreyImage[] = [];
for (const image of chosen) images.push(await canonicalOf(image));

const report = await addHeatMapOutput(args.source, args.target, { version: args.version, images });
const summary = {
  source: path.resolve(args.source),
  target: report.package.path,
  version: report.package.version,
  packageHash: report.package.packageHash,
  images: chosen.map((image) => ({ id: image.id, malignant: image.malignant, inverted: image.attributes.inverted === 'true' })),
  runs: report.runs,
  maxAbsDiff: report.maxAbsDiff,
  camIdentityMaxDiff: report.camIdentityMaxDiff,
  grid: report.grid,
  seconds: Math.round((Date.now() - started) / 100) / 10,
};
if (args.json) {
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} else {
  process.stdout.write(
    [
      `${summary.version}: written to ${summary.target} (package hash ${summary.packageHash})`,
      `  compared on ${chosen.length} rsna-screening images (${malignant.length} with cancer, ${summary.images.filter((i) => i.inverted).length} stored inverted), ${summary.runs} runs with the test-time flips`,
      `  maxAbsDiff ${summary.maxAbsDiff} (largest |old - new| class probability)`,
      `  camIdentityMaxDiff ${summary.camIdentityMaxDiff} (mean cell logit vs the image's logit)`,
      `  heat map grid over the model input: ${summary.grid.rows} x ${summary.grid.columns}`,
      `  ${summary.seconds} s`,
    ].join('\n') + '\n',
  );
}
