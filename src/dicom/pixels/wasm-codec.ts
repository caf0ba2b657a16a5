// Loading and calling the Emscripten-built codecs (@cornerstonejs/codec-*) safely in Node.
//
// - Each module is instantiated lazily, once per process, from its `/wasmjs` build (the
//   plain-JS builds decode about 9x slower); `locateFile` points it at the package's own .wasm
//   file, so it works wherever node_modules is.
// - Their stdout/stderr chatter ("[INFO] Start to read j2k main header") is captured rather
//   than printed, and the lines of a failed decode go into its error message.
// - A C++ exception reaches JavaScript as a bare number and a wasm abort as a RuntimeError;
//   both become an Error. After an abort the instance is unusable, so it is dropped and the
//   next decode instantiates a fresh one: a bad file never takes the process down.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The options of an Emscripten module factory that this project sets. */
interface EmscriptenOptions {
  locateFile(path: string, prefix: string): string;
  print(text: string): void;
  printErr(text: string): void;
}

type EmscriptenFactory<M> = (options: EmscriptenOptions) => Promise<M>;

/** An Emscripten codec module, loaded on first use. */
export class WasmCodec<M> {
  private instance: Promise<M> | undefined;
  private readonly messages: string[] = [];

  /**
   * @param name what error messages call the codec ("JPEG 2000 (OpenJPEG)")
   * @param scriptPath the package export of the JavaScript glue ("@cornerstonejs/codec-openjpeg/wasmjs")
   * @param wasmPath the package export of the matching .wasm file ("@cornerstonejs/codec-openjpeg/wasm")
   */
  constructor(
    readonly name: string,
    private readonly scriptPath: string,
    private readonly wasmPath: string,
  ) {}

  /** Runs `use` against the module and turns whatever the codec throws into an Error naming the codec. */
  async run<T>(use: (module: M) => T): Promise<T> {
    const module = await this.load();
    this.messages.length = 0;
    try {
      return use(module);
    } catch (error) {
      if (isWasmTrap(error)) this.instance = undefined;
      throw new Error(`${this.name}: ${describeThrown(error)}${this.messageSuffix()}`, { cause: error });
    }
  }

  /** Lines the codec printed during the current `run` that report a problem. */
  problems(): string[] {
    return this.messages.filter((line) => /error|warning|fail/i.test(line));
  }

  /** " (codec said: ...)" for error messages, or "" when it printed nothing useful. */
  messageSuffix(): string {
    const problems = this.problems();
    return problems.length > 0 ? ` (codec said: ${problems.slice(0, 5).join('; ')})` : '';
  }

  private load(): Promise<M> {
    if (!this.instance) {
      const capture = (text: string) => {
        if (this.messages.length < 100) this.messages.push(text.trim());
      };
      const instance = (async () => {
        const factory = require(this.scriptPath) as EmscriptenFactory<M>;
        const wasmFile = require.resolve(this.wasmPath);
        return factory({ locateFile: () => wasmFile, print: capture, printErr: capture });
      })();
      this.instance = instance;
      instance.catch(() => {
        if (this.instance === instance) this.instance = undefined; // retry the load next time
      });
    }
    return this.instance.catch((error: unknown) => {
      throw new Error(`${this.name}: the codec could not be loaded: ${describeThrown(error)}`, { cause: error });
    });
  }
}

/** A WebAssembly.RuntimeError: an abort() or a trap (out-of-bounds access, unreachable). */
export function isWasmTrap(error: unknown): boolean {
  return error instanceof Error && error.name === 'RuntimeError';
}

/** A readable message for anything a codec may throw. */
export function describeThrown(error: unknown): string {
  if (error instanceof Error) return error.message;
  // Emscripten builds without exception support helpers throw C++ exceptions as a pointer.
  if (typeof error === 'number') return 'the codec rejected the stream (native exception)';
  return String(error);
}
