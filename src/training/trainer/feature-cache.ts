// Stage 2's cached feature maps (the frozen part of the network, computed once per image and
// test-time flip by onnxruntime), kept in memory, as computed or as 8-bit codes, and on disk so
// a resumed run does not compute them again.
//
// Why 8 bits, where asked for: a MobileNet cut at stride 16 on a 640x640 input gives 40x40x384 floats per image
// and flip, 2.4 MB; 2,555 images with two flips are 12.5 GB as float32, more than a training
// machine should hold. Each map is stored as bytes with its own scale (max / 255): after a
// ReLU(6) the values are non-negative and the rounding error is at most 0.2% of the map's
// largest value, far below the noise of training on them. Negative values (a cut before an
// activation) are kept by an offset (the map's minimum). A map of an unbounded ReLU whose few
// large values set the scale loses its small ones, hence float32 by default. Only training
// reads the cache: the reported scores come from the full-precision model on the images.
//
// File format: "MCF2", uint32 header length, JSON header {shape, flips, storage, entries: [{id,
// flip, min, scale}]}, then each entry's values in header order (h*w*c bytes, or float32 LE). Written to a temporary file and
// renamed once complete: a half-written cache is never read.

import { createWriteStream, existsSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { once } from 'node:events';

const MAGIC = 'MCF2';

export type FeatureStorage = 'float32' | 'uint8';

/** A map as 8-bit codes (min + code * scale), or as float32 values (min 0, scale 1). */
export interface QuantisedMap {
  codes: Uint8Array | Float32Array;
  min: number;
  scale: number;
}

/** The map as `storage` keeps it. */
export function storeMap(values: Float32Array, storage: FeatureStorage): QuantisedMap {
  return storage === 'uint8' ? quantiseMap(values) : { codes: values, min: 0, scale: 1 };
}

/** Float values to 8-bit codes (min + code * scale reproduces them within scale / 2). */
export function quantiseMap(values: Float32Array): QuantisedMap {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    // NaN fails every comparison: it would be coded as the minimum without this check.
    if (!Number.isFinite(v)) throw new RangeError(`feature map holds a non-finite value (${v}) at ${i}`);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const scale = max > min ? (max - min) / 255 : 1;
  const codes = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) codes[i] = Math.round((values[i]! - min) / scale);
  return { codes, min, scale };
}

/** Writes the decoded values of `map` into `target` at `offset`. */
export function dequantiseInto(map: QuantisedMap, target: Float32Array, offset: number): void {
  const { codes, min, scale } = map;
  if (codes instanceof Float32Array) {
    target.set(codes, offset);
    return;
  }
  for (let i = 0; i < codes.length; i++) target[offset + i] = min + codes[i]! * scale;
}

export class FeatureCache {
  /** Per image id, one map per flip (in `flips` order). */
  readonly maps = new Map<string, QuantisedMap[]>();

  constructor(
    readonly shape: [number, number, number],
    readonly flips: readonly string[],
    readonly storage: FeatureStorage,
  ) {}

  private get bytesPerValue(): number {
    return this.storage === 'uint8' ? 1 : 4;
  }

  get bytes(): number {
    return this.maps.size * this.flips.length * this.shape[0] * this.shape[1] * this.shape[2] * this.bytesPerValue;
  }

  has(ids: readonly string[]): boolean {
    return ids.every((id) => this.maps.get(id)?.length === this.flips.length);
  }

  /** A float32 NHWC batch of the given (id, flip index) pairs. */
  batch(items: ReadonlyArray<{ id: string; flip: number }>): Float32Array {
    const size = this.shape[0] * this.shape[1] * this.shape[2];
    const data = new Float32Array(items.length * size);
    items.forEach(({ id, flip }, n) => {
      const map = this.maps.get(id)?.[flip];
      if (!map) throw new Error(`feature cache: no map for image ${id}, flip ${flip}`);
      dequantiseInto(map, data, n * size);
    });
    return data;
  }

  async save(file: string): Promise<void> {
    const entries = [...this.maps].flatMap(([id, maps]) => maps.map((m, flip) => ({ id, flip, min: m.min, scale: m.scale, codes: m.codes })));
    const header = new TextEncoder().encode(JSON.stringify({ shape: this.shape, flips: this.flips, storage: this.storage, entries: entries.map(({ codes: _c, ...e }) => e) }));
    const prefix = new Uint8Array(8);
    prefix.set(new TextEncoder().encode(MAGIC), 0);
    new DataView(prefix.buffer).setUint32(4, header.length, true);
    const temporary = `${file}.${process.pid}.tmp`;
    const stream = createWriteStream(temporary);
    const write = async (bytes: Uint8Array) => {
      if (!stream.write(bytes)) await once(stream, 'drain');
    };
    await write(prefix);
    await write(header);
    for (const entry of entries) await write(new Uint8Array(entry.codes.buffer, entry.codes.byteOffset, entry.codes.byteLength));
    stream.end();
    await once(stream, 'finish');
    await rename(temporary, file);
  }

  /** The cache in `file`, or null when there is none (or it is not a cache of these flips and this storage). */
  static async load(file: string, expect: { flips: readonly string[]; storage: FeatureStorage }): Promise<FeatureCache | null> {
    if (!existsSync(file)) return null;
    const handle = await open(file, 'r');
    try {
      const prefix = new Uint8Array(8);
      await handle.read(prefix, 0, 8, 0);
      if (new TextDecoder().decode(prefix.subarray(0, 4)) !== MAGIC) return null;
      const headerLength = new DataView(prefix.buffer).getUint32(4, true);
      const headerBytes = new Uint8Array(headerLength);
      await handle.read(headerBytes, 0, headerLength, 8);
      const header = JSON.parse(new TextDecoder().decode(headerBytes)) as {
        shape: [number, number, number];
        flips: string[];
        storage: FeatureStorage;
        entries: Array<{ id: string; flip: number; min: number; scale: number }>;
      };
      if (header.flips.join() !== expect.flips.join() || header.storage !== expect.storage) return null;
      const cache = new FeatureCache(header.shape, header.flips, header.storage);
      const count = header.shape[0] * header.shape[1] * header.shape[2];
      const size = count * cache.bytesPerValue;
      let position = 8 + headerLength;
      for (const entry of header.entries) {
        const codes = header.storage === 'uint8' ? new Uint8Array(count) : new Float32Array(count);
        const { bytesRead } = await handle.read(new Uint8Array(codes.buffer), 0, size, position);
        if (bytesRead !== size) return null;
        position += size;
        const list = cache.maps.get(entry.id) ?? [];
        list[entry.flip] = { codes, min: entry.min, scale: entry.scale };
        cache.maps.set(entry.id, list);
      }
      return cache;
    } finally {
      await handle.close();
    }
  }
}
