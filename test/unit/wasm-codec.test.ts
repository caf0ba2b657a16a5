// WasmCodec with stand-in Emscripten modules (small CommonJS files written to a temporary
// directory): loaded once, chatter captured into error messages, C++ exceptions and wasm traps
// turned into Errors, and a fresh instance after a trap.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WasmCodec } from '../../src/dicom/pixels/wasm-codec.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mammocad-wasm-codec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in module: each instantiation gets a new serial number; its methods print, throw a number (C++ exception) or trap. */
const FAKE_MODULE = `
let instances = 0;
module.exports = async (options) => {
  const serial = ++instances;
  options.print('[INFO] instance ' + serial);
  return {
    serial,
    wasm: options.locateFile('codec.wasm', ''),
    say: (line) => options.printErr(line),
    throwNative: () => { throw 12345; },
    trap: () => { const e = new Error('Aborted(OOM)'); e.name = 'RuntimeError'; throw e; },
  };
};
`;

interface FakeModule {
  serial: number;
  wasm: string;
  say(line: string): void;
  throwNative(): never;
  trap(): never;
}

const scriptFor = (name: string) => path.join(dir, `${name}.cjs`);

/** A codec over a fresh stand-in module; the module file doubles as its ".wasm" file. */
function fakeCodec(name: string): WasmCodec<FakeModule> {
  writeFileSync(scriptFor(name), FAKE_MODULE);
  return new WasmCodec<FakeModule>(`Fake ${name}`, scriptFor(name), scriptFor(name));
}

describe('WasmCodec', () => {
  it('instantiates the module once and passes it the .wasm path', async () => {
    const codec = fakeCodec('once');
    expect(await codec.run((m) => m.serial)).toBe(1);
    expect(await codec.run((m) => m.serial)).toBe(1);
    expect(await codec.run((m) => m.wasm)).toBe(scriptFor('once'));
  });

  it('turns a C++ exception (a bare number) into an Error with what the codec printed', async () => {
    const codec = fakeCodec('native');
    const failing = codec.run((m) => {
      m.say('[ERROR] Stream too short');
      m.say('[INFO] not a problem');
      return m.throwNative();
    });
    await expect(failing).rejects.toThrow('Fake native: the codec rejected the stream (native exception) (codec said: [ERROR] Stream too short)');
  });

  it('drops the instance after a wasm trap, so the next run gets a fresh one', async () => {
    const codec = fakeCodec('trap');
    expect(await codec.run((m) => m.serial)).toBe(1);
    await expect(codec.run((m) => m.trap())).rejects.toThrow('Fake trap: Aborted(OOM)');
    expect(await codec.run((m) => m.serial)).toBe(2);
  });

  it('reports a codec that cannot be loaded, and tries again next time', async () => {
    const codec = new WasmCodec<FakeModule>('Missing', path.join(dir, 'absent.cjs'), path.join(dir, 'absent.cjs'));
    await expect(codec.run((m) => m.serial)).rejects.toThrow(/^Missing: the codec could not be loaded: Cannot find module/);
    await expect(codec.run((m) => m.serial)).rejects.toThrow(/^Missing: the codec could not be loaded/);
  });
});
