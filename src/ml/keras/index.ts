// Import of the paper authors' released Keras 2 models (HDF5) as model packages.
export { UNCALIBRATED_THRESHOLD, importKerasModel, versionFromFileName, type KerasImportOptions, type KerasImportResult } from './import-keras.js';
export { KerasImportError } from './keras-import-error.js';
export { readKerasModelFile, type KerasModelFile, type KerasWeightValues } from './keras-h5-file.js';
export { INFERENCE_IDENTITY_LAYERS, SUPPORTED_KERAS_LAYERS, importableTopology, type ImportableTopology } from './keras-topology.js';
