// Synthetic digital mammograms: a breast-shaped phantom, made from a seed, as the Digital
// Mammography X-Ray Image "For Presentation" object image-to-dicom.ts writes (12-bit samples,
// MONOCHROME2, 0.1 mm pixels). They let a fresh clone run the demo and the tests that need a
// study without the research-only data sets. A phantom is NOT a patient and holds no finding:
// a model's probability for it means nothing clinically, and every description in its header
// says it is synthetic.
//
// Same seed, same bytes, on any machine and Node version: UIDs come from the seed (uidFromName,
// under the project's 2.25 root), nothing reads the clock, and the pixels use only arithmetic
// IEEE 754 rounds exactly (+ - * / sqrt, no exp, pow or trigonometry, whose last bits may
// differ between engines), from a seeded generator.

import { createHash } from 'node:crypto';
import dcmjs from 'dcmjs';
import { ValidationError } from '../../domain/errors.js';
import { buildMammogramImage, ds, type MammogramImage } from './image-to-dicom.js';

export type Laterality = 'L' | 'R';
export type View = 'CC' | 'MLO';

/** Goes into the study and series descriptions and into the name of every UID. */
export const SYNTHETIC_COLLECTION = 'mammocad synthetic phantom';
/** Patient Name of every phantom: says what it is wherever a viewer shows the name. */
export const SYNTHETIC_PATIENT_NAME = 'SYNTHETIC PHANTOM^NOT A PATIENT';
export const SYNTHETIC_BITS_STORED = 12;

/** The default matrix: a small detector field (130 x 100 mm) at a common detector pitch. */
export const SYNTHETIC_DEFAULT_SIZE = { rows: 1300, columns: 1000, pixelSpacingMm: 0.1 } as const;

export interface SyntheticMammogramInput {
  /** Any text. One seed is one synthetic woman: one patient, one study, one series. */
  seed: string;
  laterality: Laterality;
  view: View;
  /** 1-based position in the series (default: L CC 1, R CC 2, L MLO 3, R MLO 4). */
  instanceNumber?: number;
  /** A study date to record (YYYYMMDD), e.g. today's for a demonstration; by default none. */
  studyDate?: string;
  rows?: number;
  columns?: number;
  /** Square pixels, mm. */
  pixelSpacingMm?: number;
}

export interface SyntheticMammogram extends MammogramImage {
  patientId: string;
  laterality: Laterality;
  view: View;
  /** The stored samples, row-major (what the file's Pixel Data holds). */
  samples: Uint16Array;
}

/** The four screening views of one synthetic woman, in the usual hanging order. */
export const SCREENING_VIEWS: ReadonlyArray<{ laterality: Laterality; view: View }> = [
  { laterality: 'L', view: 'CC' },
  { laterality: 'R', view: 'CC' },
  { laterality: 'L', view: 'MLO' },
  { laterality: 'R', view: 'MLO' },
];

/** PatientID of the synthetic woman a seed makes (the seed itself may be long or odd text). */
export function syntheticPatientId(seed: string): string {
  return `SYNTH-${createHash('sha256').update(`patient ${seed}`).digest('hex').slice(0, 10).toUpperCase()}`;
}

/** Builds one synthetic view as Part 10 bytes (Explicit VR Little Endian). */
export function buildSyntheticMammogram(input: SyntheticMammogramInput): SyntheticMammogram {
  const rows = input.rows ?? SYNTHETIC_DEFAULT_SIZE.rows;
  const columns = input.columns ?? SYNTHETIC_DEFAULT_SIZE.columns;
  const spacing = input.pixelSpacingMm ?? SYNTHETIC_DEFAULT_SIZE.pixelSpacingMm;
  if (!Number.isInteger(rows) || !Number.isInteger(columns) || rows < 64 || columns < 64 || rows > 4096 || columns > 4096) {
    throw new ValidationError('rows/columns', `a synthetic mammogram is 64-4096 pixels a side; got ${rows} x ${columns}`);
  }
  if (!(spacing > 0)) throw new ValidationError('pixelSpacingMm', `must be positive; got ${spacing}`);
  const { laterality, view, seed } = input;
  const samples = renderPhantom(seed, laterality, view, rows, columns, spacing);

  const patientId = syntheticPatientId(seed);
  const order = SCREENING_VIEWS.findIndex((v) => v.laterality === laterality && v.view === view) + 1;
  // image-to-dicom.ts holds every module of the object but writes 8-bit samples only: it is
  // given the top 8 bits, and its Image Pixel module is then swapped for the 12-bit one.
  const placeholder = new Uint8Array(samples.length);
  for (let i = 0; i < samples.length; i++) placeholder[i] = samples[i]! >> (SYNTHETIC_BITS_STORED - 8);
  const built = buildMammogramImage({
    imageId: `${patientId} ${laterality} ${view}`,
    patientId,
    patientName: SYNTHETIC_PATIENT_NAME,
    laterality,
    view,
    instanceNumber: input.instanceNumber ?? order,
    collection: SYNTHETIC_COLLECTION,
    seriesDescription: 'SYNTHETIC phantom, not a patient',
    derivationDescription: `synthetic phantom drawn by mammocad from a seed; not an acquisition, not a patient, no finding (${ds(spacing)} mm pixels)`,
    // No detector made it; the storage class says digital mammography, which is what it imitates.
    detectorType: '',
    pixelSpacingMm: spacing,
    pixels: { encoding: 'native', rows, columns, samples: placeholder, photometricInterpretation: 'MONOCHROME2' },
    ...(input.studyDate === undefined ? {} : { studyDate: input.studyDate }),
    uidSeed: seed,
  });
  const bytes = withTwelveBitPixels(built.bytes, samples, windowOf(samples));
  return { ...built, bytes, patientId, laterality, view, samples };
}

/** One synthetic woman's screening study: the views asked for (default all four), one series. */
export function buildSyntheticStudy(
  seed: string,
  options: { views?: ReadonlyArray<{ laterality: Laterality; view: View }>; studyDate?: string; rows?: number; columns?: number; pixelSpacingMm?: number } = {},
): SyntheticMammogram[] {
  const { views = SCREENING_VIEWS, ...rest } = options;
  return views.map((v, index) => buildSyntheticMammogram({ seed, ...v, instanceNumber: index + 1, ...rest }));
}

// The DICOM ------------------------------------------------------------------------------------

/** Replaces the 8-bit Image Pixel attributes and Pixel Data of a file image-to-dicom.ts wrote. */
function withTwelveBitPixels(bytes: Uint8Array, samples: Uint16Array, window: { center: number; width: number }): Uint8Array {
  const { DicomMessage, DicomDict, DicomMetaDictionary } = dcmjs.data;
  const whole = new Uint8Array(bytes).buffer;
  const file = DicomMessage.readFile(whole);
  const pixelModule = DicomMetaDictionary.denaturalizeDataset({
    BitsAllocated: 16,
    BitsStored: SYNTHETIC_BITS_STORED,
    HighBit: SYNTHETIC_BITS_STORED - 1,
    PixelRepresentation: 0,
    WindowCenter: String(window.center),
    WindowWidth: String(window.width),
    // A copy: the file must not share memory with the caller's samples. Little endian, as the
    // transfer syntax (Explicit VR Little Endian) and every platform Node runs on have it.
    PixelData: [new Uint16Array(samples).buffer],
    _vrMap: { PixelData: 'OW' },
  });
  const out = new DicomDict(file.meta);
  out.dict = { ...file.dict, ...pixelModule };
  return new Uint8Array(out.write());
}

/** A display window over the breast (the samples above the background), as vendors set one. */
function windowOf(samples: Uint16Array): { center: number; width: number } {
  let low = Infinity;
  let high = -Infinity;
  for (const v of samples) {
    if (v <= BACKGROUND + 200) continue;
    if (v < low) low = v;
    if (v > high) high = v;
  }
  if (!(high > low)) return { center: 2048, width: 4096 };
  return { center: Math.round((low + high) / 2), width: high - low };
}

// The phantom ----------------------------------------------------------------------------------

const MAX_VALUE = 2 ** SYNTHETIC_BITS_STORED - 1;
/** Grey levels (12-bit, higher = more attenuation, as For Presentation MONOCHROME2 shows it). */
const BACKGROUND = 48;
const FAT = 1300;
const GLAND = 1150;
const MUSCLE = 2350;
const SKIN = 160;

/** sfc32, seeded from SHA-256 of the text: a small generator with a 128-bit state. */
function randomFrom(text: string): () => number {
  const hash = createHash('sha256').update(text).digest();
  let a = hash.readUInt32LE(0);
  let b = hash.readUInt32LE(4);
  let c = hash.readUInt32LE(8);
  let d = hash.readUInt32LE(12);
  const next = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next(); // mix the seed in
  return next;
}

const between = (random: () => number, low: number, high: number) => low + (high - low) * random();
const clamp01 = (t: number) => (t < 0 ? 0 : t > 1 ? 1 : t);
/** Smoothstep of t clamped to [0, 1]: a soft edge without exp. */
const soft = (t: number) => {
  const u = clamp01(t);
  return u * u * (3 - 2 * u);
};

/** Value noise on a square lattice, smoothly interpolated; values in [-1, 1]. */
class NoiseLattice {
  private readonly values: Float64Array;
  private readonly width: number;

  /** Covers lattice coordinates [0, width - 1) x [0, height - 1). */
  constructor(random: () => number, width: number, height: number) {
    this.width = width;
    this.values = new Float64Array(width * height);
    for (let i = 0; i < this.values.length; i++) this.values[i] = random() * 2 - 1;
  }

  at(x: number, y: number): number {
    const i = Math.floor(x);
    const j = Math.floor(y);
    const fx = x - i;
    const fy = y - j;
    const sx = fx * fx * (3 - 2 * fx);
    const sy = fy * fy * (3 - 2 * fy);
    const k = j * this.width + i;
    const v = this.values;
    const top = v[k]! + (v[k + 1]! - v[k]!) * sx;
    const bottom = v[k + this.width]! + (v[k + this.width + 1]! - v[k + this.width]!) * sx;
    return top + (bottom - top) * sy;
  }
}

/**
 * Fractal value noise over the image in "breast axes": p along the breast (chest wall to
 * nipple), q across it. Cells are longer along p, so the texture streaks towards the nipple as
 * ducts and fibrous strands do.
 */
class Texture {
  private readonly octaves: Array<{ lattice: NoiseLattice; cellP: number; cellQ: number; amplitude: number }> = [];
  private readonly pMin: number;
  private readonly qMin: number;
  private readonly total: number;

  constructor(random: () => number, bounds: { pMin: number; pMax: number; qMin: number; qMax: number }, coarsestMm: number, count: number, stretch: number) {
    this.pMin = bounds.pMin;
    this.qMin = bounds.qMin;
    let cell = coarsestMm;
    let amplitude = 1;
    let total = 0;
    for (let o = 0; o < count; o++) {
      const cellP = cell * stretch;
      const cellQ = cell;
      const width = Math.ceil((bounds.pMax - bounds.pMin) / cellP) + 2;
      const height = Math.ceil((bounds.qMax - bounds.qMin) / cellQ) + 2;
      this.octaves.push({ lattice: new NoiseLattice(random, width, height), cellP, cellQ, amplitude });
      total += amplitude;
      cell /= 2;
      amplitude *= 0.6;
    }
    this.total = total;
  }

  /** In [-1, 1], mostly within +-0.5. */
  at(p: number, q: number): number {
    let sum = 0;
    for (const o of this.octaves) sum += o.amplitude * o.lattice.at((p - this.pMin) / o.cellP, (q - this.qMin) / o.cellQ);
    return sum / this.total;
  }
}

/** What stays the same for one woman (both sides, both views): her size, shape and density. */
interface Woman {
  /** Chest wall to nipple, as a share of the image width. */
  depth: number;
  /** Half the breast's height at the chest wall (CC), as a share of the image height. */
  halfHeight: number;
  /** Share of the breast's middle that is fibroglandular, 0.1 (fatty) to 0.85 (dense). */
  density: number;
  /** MLO: tan of half the angle the breast hangs at (down from horizontal). */
  tilt: number;
  /** MLO: the pectoral muscle's width at the top edge and height at the chest wall (shares of the image). */
  pectoralWidth: number;
  pectoralHeight: number;
}

function womanOf(seed: string): Woman {
  const random = randomFrom(`woman ${seed}`);
  return {
    depth: between(random, 0.64, 0.8),
    halfHeight: between(random, 0.34, 0.43),
    density: between(random, 0.1, 0.85),
    tilt: between(random, 0.12, 0.2),
    pectoralWidth: between(random, 0.24, 0.36),
    pectoralHeight: between(random, 0.45, 0.68),
  };
}

/**
 * Draws the phantom: 12-bit samples, row-major. The chest wall is on the left of a left breast's
 * image and on the right of a right one's (the usual display, as image-to-dicom.ts's Patient
 * Orientation says); an MLO view shows the pectoral muscle in the upper chest-wall corner.
 */
function renderPhantom(seed: string, laterality: Laterality, view: View, rows: number, columns: number, spacing: number): Uint16Array {
  const woman = womanOf(seed);
  const random = randomFrom(`image ${seed} ${laterality} ${view}`);
  const width = columns * spacing;
  const height = rows * spacing;
  // The two sides of one woman differ a little.
  const depth = woman.depth * between(random, 0.96, 1.04) * width;
  const centreY = height * (view === 'CC' ? between(random, 0.47, 0.53) : between(random, 0.42, 0.47));
  const halfHeight = (view === 'CC' ? woman.halfHeight : 0.5) * between(random, 0.96, 1.04) * height;
  // Rotation by the angle whose half-angle tangent is t: exact rational cos and sin.
  const t = view === 'MLO' ? woman.tilt : 0;
  const cos = (1 - t * t) / (1 + t * t);
  const sin = (2 * t) / (1 + t * t);
  const pectoralWidth = woman.pectoralWidth * width;
  const pectoralHeight = woman.pectoralHeight * height;

  // Breast axes of the image corners bound the textures' lattices.
  const corners = [
    [0, 0],
    [width, 0],
    [0, height],
    [width, height],
  ].map(([x, y]) => ({ p: x! * cos + (y! - centreY) * sin, q: -x! * sin + (y! - centreY) * cos }));
  const bounds = {
    pMin: Math.min(...corners.map((c) => c.p)) - 1,
    pMax: Math.max(...corners.map((c) => c.p)) + 1,
    qMin: Math.min(...corners.map((c) => c.q)) - 1,
    qMax: Math.max(...corners.map((c) => c.q)) + 1,
  };
  const glands = new Texture(random, bounds, 20, 6, 2.5);
  const fine = new Texture(random, bounds, 2.5, 3, 2);
  const outline = new Texture(random, bounds, 40, 2, 1);
  const muscleGrain = new Texture(random, bounds, 12, 3, 4);
  const fatShade = new Texture(random, bounds, 30, 2, 1);
  // Where glandular tissue starts: a fatty breast shows only the peaks of the texture.
  const threshold = 0.3 - 0.75 * woman.density;

  const samples = new Uint16Array(rows * columns);
  for (let row = 0; row < rows; row++) {
    const y = (row + 0.5) * spacing;
    for (let column = 0; column < columns; column++) {
      const fromChestWall = laterality === 'L' ? column : columns - 1 - column;
      const x = (fromChestWall + 0.5) * spacing;
      const p = x * cos + (y - centreY) * sin;
      const q = -x * sin + (y - centreY) * cos;
      // Elliptical distance from the chest wall's middle: 1 at the skin, with a wavy outline.
      const breast = Math.sqrt((p / depth) * (p / depth) + (q / halfHeight) * (q / halfHeight)) + 0.03 * outline.at(p, q);
      // MLO: the muscle's triangle (below 1 inside it), which also widens the breast to the axilla.
      const muscle = view === 'MLO' ? x / pectoralWidth + y / pectoralHeight : Infinity;
      const d = Math.min(breast, muscle);

      let value = BACKGROUND;
      if (d < 1) {
        // Fibroglandular tissue in the middle, fat under the skin and in front of the chest wall.
        const middle = soft((0.92 - breast) / 0.4) * soft(x / 12);
        const detail = fine.at(p, q);
        const gland = soft((glands.at(p, q) + 0.25 * detail - threshold) / 0.6) * middle;
        let tissue = FAT * (1 + 0.3 * fatShade.at(p, q)) + GLAND * gland * (1 + 0.35 * detail) + 70 * detail;
        if (muscle < 1) {
          // Brightest at the chest wall, fading towards its free border.
          const inMuscle = soft((1 - muscle) / 0.12);
          const muscleValue = MUSCLE * (0.85 + 0.15 * soft((1 - muscle) / 0.6)) + 220 * muscleGrain.at(p, q);
          tissue = tissue * (1 - inMuscle) + muscleValue * inMuscle;
        }
        // The compressed breast thins towards its edge; the skin is a thin brighter line.
        const rim = 1 - d;
        tissue = BACKGROUND + (tissue - BACKGROUND) * (0.3 + 0.7 * soft(rim / 0.22));
        if (rim < 0.012) tissue += SKIN * (1 - Math.abs(rim / 0.006 - 1));
        const edge = clamp01(rim / 0.002); // a pixel-wide blend into the background
        value = BACKGROUND + (tissue - BACKGROUND) * edge;
      }
      // Quantum noise, roughly Poisson: its spread grows with the square root of the signal.
      const noise = (random() + random() + random() - 1.5) * 1.2 * Math.sqrt(value);
      const sample = Math.round(value + noise);
      samples[row * columns + column] = sample < 0 ? 0 : sample > MAX_VALUE ? MAX_VALUE : sample;
    }
  }
  return samples;
}
