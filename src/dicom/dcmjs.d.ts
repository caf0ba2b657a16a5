// The part of dcmjs's API this project uses (the package ships no type declarations).
declare module 'dcmjs' {
  type Dict = Record<string, { vr: string; Value?: unknown[]; InlineBinary?: string; BulkDataURI?: string }>;
  interface DicomDictInstance {
    meta: Dict;
    dict: Dict;
    write(options?: Record<string, unknown>): ArrayBuffer;
  }
  const dcmjs: {
    data: {
      DicomMessage: {
        readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): DicomDictInstance;
      };
      DicomDict: new (meta: Dict) => DicomDictInstance;
      DicomMetaDictionary: {
        naturalizeDataset(dict: Dict): Record<string, unknown>;
        denaturalizeDataset(dataset: Record<string, unknown>): Dict;
        uid(): string;
        date(): string;
        time(): string;
      };
    };
  };
  export default dcmjs;
}
