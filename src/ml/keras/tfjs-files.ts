// A tfjs LayersModel as the files of a package's tfjs/ folder, in the layout tfjs-node's
// `file://` handler writes and `tf.loadLayersModel` reads: model.json (topology and weights
// manifest) and one weights.bin. Saving goes through a handler that keeps the artifacts in
// memory, so that writePackage writes and digests every file of the package in one place.
// loadTfjsModel reads such a folder back.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

/** Folder of the tfjs files in a package (src/ml/model-manifest.ts). */
export const TFJS_FOLDER = 'tfjs';
const WEIGHTS_FILE = 'weights.bin';

/** {"tfjs/model.json": ..., "tfjs/weights.bin": ...} for writePackage. */
export async function tfjsModelFiles(model: tf.LayersModel): Promise<Record<string, Uint8Array>> {
  let files: Record<string, Uint8Array> | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
      };
      files = {
        [`${TFJS_FOLDER}/model.json`]: new TextEncoder().encode(JSON.stringify(modelJson)),
        [`${TFJS_FOLDER}/${WEIGHTS_FILE}`]: new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData)),
      };
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  // model.save resolves only after the handler ran.
  return files!;
}

/**
 * Loads the model a package's tfjs/ folder holds (model.json and the weight files it lists), as
 * tfjsModelFiles writes it and the trainer saves it.
 */
export async function loadTfjsModel(packageDir: string): Promise<tf.LayersModel> {
  const folder = path.join(packageDir, TFJS_FOLDER);
  const json = JSON.parse(await readFile(path.join(folder, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  const paths = json.weightsManifest.flatMap((group) => group.paths);
  const buffers = await Promise.all(paths.map((file) => readFile(path.join(folder, file))));
  const weightData = new Uint8Array(Buffer.concat(buffers)).buffer;
  return tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((group) => group.weights), weightData }),
  );
}
