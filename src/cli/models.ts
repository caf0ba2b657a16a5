// `mammocad models`: the model packages. list, show, import, verify and activate work on the
// registry (src/pipeline/model-service.ts); import-keras turns a Keras 2 model of the paper's
// authors into a package, ood-reference adds the out-of-distribution reference to a package.

import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { CommanderError, Option, type Command } from 'commander';
import { ValidationError } from '../domain/index.js';
import { PAPER_DATASET_MEANS } from '../ml/preprocess/index.js';
import { readPackage } from '../ml/registry/index.js';
import { EXIT, cliActor, configFrom, withModels } from './context.js';
import { checkDatasetKind, parseDatasetMean, parsePositive, parseThreshold, readDataset } from './options.js';
import { print, reportSkipped } from './output.js';

interface ImportKerasOptions {
  modelVersion?: string;
  datasetMean: number;
  threshold?: number;
  json?: boolean;
}

interface OodReferenceOptions {
  package: string;
  dataset: string;
  dir: string;
  threshold?: number;
  modelVersion?: string;
  json?: boolean;
}

export function registerModelCommands(program: Command): Command {
  const models = program.command('models').description('model packages: list, show, import, import-keras, verify, activate, ood-reference');
  models
    .command('list')
    .description('registered versions and packages in the model folder')
    .option('--json', 'print one JSON object per version')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const views = await withModels(cmd, (m) => m.list());
      if (views.length === 0 && !opts.json) print(false, null, 'no model versions (mammocad models import DIR)');
      for (const v of views) {
        print(Boolean(opts.json), v, `${v.active ? '*' : ' '} ${v.version}  ${v.architecture ?? '?'}  ${v.registered ? 'registered' : 'not registered'}  ${v.problem ?? v.path}`);
      }
    });
  models
    .command('show')
    .description('one version: manifest, metrics, threshold, state')
    .argument('<version>')
    .option('--json', 'print as JSON')
    .action(async (version: string, opts: { json?: boolean }, cmd: Command) => {
      const view = await withModels(cmd, (m) => m.show(version));
      print(Boolean(opts.json), view, JSON.stringify(view, null, 2));
    });
  models
    .command('import')
    .description('verify a model package folder, copy it into the model folder and register it (inactive)')
    .argument('<dir>')
    .option('--json', 'print as JSON')
    .action(async (dir: string, opts: { json?: boolean }, cmd: Command) => {
      const pkg = await withModels(cmd, (m) => m.import(dir, cliActor()));
      print(Boolean(opts.json), { version: pkg.version, path: pkg.path, packageHash: pkg.packageHash }, `imported ${pkg.version} into ${pkg.path}`);
    });
  models
    .command('verify')
    .description("check a registered version's files and hashes")
    .argument('<version>')
    .option('--json', 'print as JSON')
    .action(async (version: string, opts: { json?: boolean }, cmd: Command) => {
      const result = await withModels(cmd, (m) => m.verify(version));
      print(Boolean(opts.json), result, result.ok ? `${version}: ok` : `${version}: ${result.problems.map((p) => `${p.file ?? 'package'}: ${p.problem}`).join('; ')}`);
      if (!result.ok) throw new CommanderError(EXIT.failed, 'mammocad.verify', 'package verification failed');
    });
  models
    .command('activate')
    .description('make a registered version the one that scores studies')
    .argument('<version>')
    .option('--json', 'print as JSON')
    .action(async (version: string, opts: { json?: boolean }, cmd: Command) => {
      const record = await withModels(cmd, (m) => m.activate(version, cliActor()));
      print(Boolean(opts.json), { version: record.version, active: record.active, activatedAt: record.activatedAt }, `${version} is now active`);
    });
  models
    .command('import-keras')
    .description("import a Keras 2 model of the paper's authors (HDF5 from model.save()) as a package with the paper's pre-processing, and register it (inactive)")
    .argument('<file>', 'the .h5 file')
    // Not --version: the program's -V/--version takes that flag wherever it appears.
    .option('--model-version <version>', 'package version (default: from the file name)')
    .addOption(
      new Option('--dataset-mean <mean>', "mean of the model's training set, subtracted after scaling to 0..255: ddsm, inbreast or a number")
        .argParser(parseDatasetMean)
        .default(PAPER_DATASET_MEANS.ddsm, `ddsm (${PAPER_DATASET_MEANS.ddsm})`),
    )
    .addOption(new Option('--threshold <t>', 'operating threshold on P(malignant) (default: 0.5, not calibrated for this site)').argParser(parseThreshold))
    .option('--json', 'print as JSON')
    .action(async (file: string, opts: ImportKerasOptions, cmd: Command) => importKerasCommand(cmd, file, opts));
  models
    .command('ood-reference')
    .description("compute a package's out-of-distribution reference (docs/ood.md) from its training data set and write it into the package (a copy outside the model folder; import it afterwards)")
    .requiredOption('--package <dir>', 'the model package folder (rewritten: ood-reference.json added, manifest files and hash updated)')
    .requiredOption('--dataset <kind>', 'data set kind: mias, image-folder, rsna-screening (as mammocad evaluate)')
    .requiredOption('--dir <dir>', 'the data set folder: the images the model was trained on')
    .addOption(new Option('--threshold <s>', "flag threshold on the statistic (default: the package's, else 1 = the training images' 99th percentile)").argParser(parsePositive))
    .option('--model-version <version>', 'give the package a new version, so it can be imported next to the original')
    .option('--json', 'print as JSON')
    .action(async (opts: OodReferenceOptions, cmd: Command) => oodReferenceCommand(cmd, opts));
  for (const command of models.commands) command.exitOverride();
  return models;
}

/** `mammocad models import-keras`: a Keras HDF5 file -> a package with the paper's pre-processing, imported inactive. */
async function importKerasCommand(command: Command, file: string, opts: ImportKerasOptions): Promise<void> {
  const { imported, pkg } = await withModels(command, async (m, config) => {
    // Staged in a dot folder of the model folder (listings skip those): the copy into place stays on one disk.
    await mkdir(config.modelDir, { recursive: true });
    const staging = await mkdtemp(path.join(config.modelDir, '.keras-import-'));
    try {
      // Loaded on demand: tfjs and h5wasm are heavy, and only this command needs them.
      const { importKerasModel } = await import('../ml/keras/index.js');
      const imported = await importKerasModel(file, { outDir: path.join(staging, 'package'), version: opts.modelVersion, datasetMean: opts.datasetMean, threshold: opts.threshold });
      return { imported, pkg: await m.import(imported.packageDir, cliActor()) };
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  });
  const thresholdGiven = opts.threshold !== undefined;
  print(
    Boolean(opts.json),
    {
      version: pkg.version, path: pkg.path, packageHash: pkg.packageHash, kerasVersion: imported.kerasVersion, parameters: imported.parameters,
      removedLayers: imported.removedLayers, datasetMean: opts.datasetMean, threshold: pkg.threshold, thresholdGiven, active: false,
    },
    `imported ${pkg.version} (Keras ${imported.kerasVersion}, ${imported.parameters} parameters, dataset mean ${opts.datasetMean}) into ${pkg.path}, inactive` +
      (thresholdGiven ? '' : `\nthreshold ${pkg.threshold} is a default, not calibrated for this site: choose one on local data before activating`),
  );
}

/** `mammocad models ood-reference`: the reference of a package from a data set, written into the package. */
async function oodReferenceCommand(command: Command, opts: OodReferenceOptions): Promise<void> {
  checkDatasetKind(opts.dataset);
  const { config } = configFrom(command);
  const packageDir = path.resolve(opts.package);
  const modelDir = path.resolve(config.modelDir);
  if (packageDir === modelDir || packageDir.startsWith(`${modelDir}${path.sep}`)) {
    throw new ValidationError('--package', `${packageDir} is in the model folder ${modelDir}: a registered package must not change; run this on a copy and import the copy`);
  }
  const pkg = await readPackage(packageDir);
  const dataset = await readDataset(opts.dataset, opts.dir);
  const { computeOodReference } = await import('../training/trainer/ood-reference.js');
  const { writeOodReference } = await import('../ml/ood/index.js');
  const computed = await computeOodReference(pkg, dataset, { notes: `mammocad models ood-reference from ${path.resolve(opts.dir)}` });
  reportSkipped(computed.skipped);
  const written = await writeOodReference(packageDir, computed.reference, { threshold: opts.threshold, version: opts.modelVersion });
  const { distances, scale } = computed.reference;
  const ood = written.manifest.outOfDistribution!;
  print(
    Boolean(opts.json),
    { version: written.version, path: written.path, packageHash: written.packageHash, images: computed.images, skipped: computed.skipped.length, statistic: ood.statistic, threshold: ood.threshold, scale, distances, msPerImage: computed.msPerImage },
    [
      `${written.version}: out-of-distribution reference from ${computed.images} images of ${dataset.name} (${computed.skipped.length} skipped)`,
      `  statistic ${ood.statistic} v${ood.version}, scale (99th percentile distance) ${scale.toFixed(4)}, flag threshold ${ood.threshold}`,
      `  training distances: median ${distances.p50.toFixed(4)}, 95th percentile ${distances.p95.toFixed(4)}, max ${distances.max.toFixed(4)}`,
      `  package hash ${written.packageHash}`,
    ].join('\n'),
  );
}
