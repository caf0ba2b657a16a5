// Chooses the images the classifier is meant for: single-frame mammography projections "For
// Presentation" in a screening view, and says why every other object is skipped. Reads the
// attributes any PACS returns (a dcmjs-naturalised dataset: keyword -> value), so the same
// decision is made from WADO-RS metadata, QIDO results or a file on disk.

import type { Laterality } from '../domain/index.js';
import { FOR_PROCESSING_CLASSES, PROJECTION_IMAGE_CLASSES, SOP_CLASS, SR_CLASS_ROOT } from './sop-classes.js';

export type Dataset = Record<string, unknown>;

export type ViewModifier = 'magnification' | 'spot-compression' | 'implant-displaced';

export interface SelectionPolicy {
  /** Modalities accepted besides MG, for images that are mammograms but do not say so
   * (e.g. 'RG' for digitised film stored as Secondary Capture). */
  extraModalities: string[];
  /** Views the classifier is meant for. An image whose view cannot be told is accepted. */
  views: string[];
  /** View modifiers that make an image diagnostic rather than screening: skipped. */
  skipModifiers: ViewModifier[];
}

export const DEFAULT_SELECTION_POLICY: SelectionPolicy = {
  extraModalities: [],
  views: ['CC', 'MLO'],
  skipModifiers: ['magnification', 'spot-compression'],
};

export interface ViewDecision {
  eligible: boolean;
  /** Why the object is skipped (absent when eligible). */
  reason?: string;
  laterality: Laterality;
  /** Where the laterality came from, for audit and debugging. */
  lateralitySource: 'ImageLaterality' | 'Laterality' | 'description' | 'none';
  view: string | null;
  modifiers: ViewModifier[];
}

const text = (ds: Dataset, key: string): string => {
  const value = ds[key];
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first.trim() : typeof first === 'number' ? String(first) : '';
};

const sequence = (ds: Dataset, key: string): Dataset[] => {
  const value = ds[key];
  if (Array.isArray(value)) return value.filter((v): v is Dataset => typeof v === 'object' && v !== null);
  return typeof value === 'object' && value !== null ? [value as Dataset] : [];
};

// View codes of CID 4014 View for Mammography: the SNOMED-RT style ("SNOMED-RT ID" column,
// as SNM3/SRT headers carry them) and SNOMED CT codes PS3.16 lists for each view. AT and CV are
// modifiers in CID 4015 (Axillary Tail, Cleavage) that ACR MQCM uses in place of a view: they
// are known by their SNOMED CT codes and their meanings only.
const VIEW_CODES: Record<string, string> = {
  'R-10242': 'CC', '399162004': 'CC',
  'R-10226': 'MLO', '399368009': 'MLO',
  'R-10224': 'ML', '399260004': 'ML',
  'R-10228': 'LM', '399352003': 'LM',
  'R-1024A': 'XCCL', '399192008': 'XCCL',
  'R-1024B': 'XCCM', '399101009': 'XCCM',
  'R-10230': 'LMO', '399099002': 'LMO',
  'R-10244': 'FB', '399196006': 'FB',
  'R-102D0': 'SIO', '399188001': 'SIO',
  'R-40AAA': 'ISO', '441555000': 'ISO',
  '399011000': 'AT',
  '399161006': 'CV',
};

const VIEW_MEANINGS: Array<[RegExp, string]> = [
  [/exaggerated cranio-?caudal.*lateral/i, 'XCCL'],
  [/exaggerated cranio-?caudal.*medial/i, 'XCCM'],
  [/latero-?medial oblique/i, 'LMO'],
  [/medio-?lateral oblique/i, 'MLO'],
  [/cranio-?caudal/i, 'CC'],
  [/medio-?lateral/i, 'ML'],
  [/latero-?medial/i, 'LM'],
  [/from below|caudo-?cranial/i, 'FB'],
  [/superolateral to inferomedial/i, 'SIO'],
  [/axillary tail/i, 'AT'],
  [/cleavage/i, 'CV'],
];

const KNOWN_VIEWS = new Set(Object.values(VIEW_CODES));

function viewOf(ds: Dataset): string | null {
  const code = sequence(ds, 'ViewCodeSequence')[0];
  if (code) {
    const byCode = VIEW_CODES[text(code, 'CodeValue')];
    if (byCode) return byCode;
    const meaning = text(code, 'CodeMeaning');
    for (const [pattern, view] of VIEW_MEANINGS) if (pattern.test(meaning)) return view;
  }
  // ViewPosition (DX/MG): the view's abbreviation, sometimes with a vendor's "ID" suffix.
  const position = text(ds, 'ViewPosition').toUpperCase().replace(/[\s_-]/g, '').replace(/ID$/, '');
  if (KNOWN_VIEWS.has(position)) return position;
  return describedView(ds);
}

function describedText(ds: Dataset): string {
  return ['SeriesDescription', 'ProtocolName', 'AcquisitionDeviceProcessingDescription', 'ImageComments']
    .map((k) => text(ds, k))
    .join(' ')
    .toUpperCase();
}

/** Vendor descriptions such as "L CC", "RMLO", "R_MLO_ID". */
function describedView(ds: Dataset): string | null {
  const match = /(?:^|[^A-Z])([LR])?[\s_-]?(XCCL|XCCM|MLO|LMO|CC|ML|LM)(?:ID)?(?:[^A-Z]|$)/.exec(describedText(ds));
  return match ? match[2]! : null;
}

function lateralityOf(ds: Dataset): Pick<ViewDecision, 'laterality' | 'lateralitySource'> {
  for (const key of ['ImageLaterality', 'Laterality'] as const) {
    const value = text(ds, key).toUpperCase();
    if (value === 'L' || value === 'R' || value === 'B') return { laterality: value, lateralitySource: key };
  }
  const match = /(?:^|[^A-Z])([LR])[\s_-]?(?:XCCL|XCCM|MLO|LMO|CC|ML|LM)(?:ID)?(?:[^A-Z]|$)|(?:^|[^A-Z])(LEFT|RIGHT)(?:[^A-Z]|$)/.exec(describedText(ds));
  if (match) {
    const side = (match[1] ?? match[2]!)[0] as 'L' | 'R';
    return { laterality: side, lateralitySource: 'description' };
  }
  return { laterality: 'U', lateralitySource: 'none' };
}

function modifiersOf(ds: Dataset): ViewModifier[] {
  const found = new Set<ViewModifier>();
  const code = sequence(ds, 'ViewCodeSequence')[0];
  const meanings = code ? sequence(code, 'ViewModifierCodeSequence').map((m) => text(m, 'CodeMeaning')) : [];
  const words = [...meanings, text(ds, 'ViewPosition'), describedText(ds)].join(' ');
  if (/magnif/i.test(words) || /(?:^|[^A-Z])M(?:CC|MLO|ML|LM)(?:[^A-Z]|$)/.test(words.toUpperCase())) found.add('magnification');
  if (/spot/i.test(words)) found.add('spot-compression');
  if (/implant displaced|(?:CC|MLO|ML|LM)ID(?:[^A-Z]|$)/i.test(words)) found.add('implant-displaced');
  return [...found];
}

/** Decides whether one object is an image the classifier is meant for. */
export function selectView(ds: Dataset, policy: SelectionPolicy = DEFAULT_SELECTION_POLICY): ViewDecision {
  const sopClass = text(ds, 'SOPClassUID');
  const modality = text(ds, 'Modality').toUpperCase();
  const side = lateralityOf(ds);
  const view = viewOf(ds);
  const modifiers = modifiersOf(ds);
  const decided = { ...side, view, modifiers };
  const skip = (reason: string): ViewDecision => ({ eligible: false, reason, ...decided });

  if (sopClass === SOP_CLASS.xRayRadiationDoseSr) return skip('radiation dose report, not an image');
  if (sopClass.startsWith(SR_CLASS_ROOT)) return skip('structured report, not an image');
  if (FOR_PROCESSING_CLASSES.includes(sopClass) || text(ds, 'PresentationIntentType').toUpperCase() === 'FOR PROCESSING') {
    return skip('For Processing image (raw detector data); only For Presentation images are scored');
  }
  if (sopClass === SOP_CLASS.breastTomosynthesis) return skip('breast tomosynthesis volume, not a projection image');
  if (!PROJECTION_IMAGE_CLASSES.includes(sopClass)) return skip(`SOP class ${sopClass || '(missing)'} is not a projection image`);
  if (modality !== 'MG' && !policy.extraModalities.map((m) => m.toUpperCase()).includes(modality)) {
    return skip(`modality ${modality || '(missing)'} is not mammography (MG)`);
  }
  const frames = Number(text(ds, 'NumberOfFrames') || '1');
  if (frames > 1) return skip(`multi-frame image (${frames} frames)`);
  const diagnostic = modifiers.filter((m) => policy.skipModifiers.includes(m));
  if (diagnostic.length) return skip(`diagnostic view (${diagnostic.join(', ')})`);
  if (view !== null && !policy.views.includes(view)) return skip(`view ${view} is not one of ${policy.views.join(', ')}`);
  if (side.laterality === 'B') return skip('image shows both breasts');
  return { eligible: true, ...decided };
}
