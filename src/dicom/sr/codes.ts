// The coded concepts mammocad's structured reports use, as named constants. Every code is a
// standard one (DCM: PS3.16 Annex D; SCT: SNOMED CT; UCUM; RFC 5646): the reports carry no
// private codes. docs/structured-reports.md lists where each one appears and why.

/** A coded concept (PS3.3 Table 8.8-1 Code Sequence Macro, short form). */
export interface Code {
  readonly value: string;
  readonly scheme: string;
  readonly meaning: string;
}

const dcm = (value: string, meaning: string): Code => ({ value, scheme: 'DCM', meaning });
const sct = (value: string, meaning: string): Code => ({ value, scheme: 'SCT', meaning });
const ucum = (value: string, meaning: string): Code => ({ value, scheme: 'UCUM', meaning });

/** Two codes denote the same concept when value and scheme match (meanings may be worded differently). */
export function sameCode(a: Code | undefined, b: Code | undefined): boolean {
  return a !== undefined && b !== undefined && a.value === b.value && a.scheme === b.scheme;
}

// Document titles and containers ----------------------------------------------------------------

export const IMAGING_MEASUREMENT_REPORT = dcm('126000', 'Imaging Measurement Report');
export const IMAGING_MEASUREMENTS = dcm('126010', 'Imaging Measurements');
export const MEASUREMENT_GROUP = dcm('125007', 'Measurement Group');
export const IMAGE_LIBRARY = dcm('111028', 'Image Library');
export const IMAGE_LIBRARY_GROUP = dcm('126200', 'Image Library Group');
export const MAMMOGRAPHY_CAD_REPORT = dcm('111036', 'Mammography CAD Report');

// TID 1204 Language, TID 1002/1004 observer context, TID 1500 procedure -------------------------

export const LANGUAGE_OF_CONTENT = dcm('121049', 'Language of Content Item and Descendants');
export const ENGLISH_US: Code = { value: 'en-US', scheme: 'RFC5646', meaning: 'English (United States)' };
export const OBSERVER_TYPE = dcm('121005', 'Observer Type');
export const DEVICE = dcm('121007', 'Device');
export const DEVICE_OBSERVER_UID = dcm('121012', 'Device Observer UID');
export const DEVICE_OBSERVER_NAME = dcm('121013', 'Device Observer Name');
export const DEVICE_OBSERVER_MANUFACTURER = dcm('121014', 'Device Observer Manufacturer');
export const DEVICE_OBSERVER_MODEL_NAME = dcm('121015', 'Device Observer Model Name');
export const PROCEDURE_REPORTED = dcm('121058', 'Procedure reported');
export const SCREENING_MAMMOGRAPHY = sct('24623002', 'Screening mammography');

// TID 1600-1603 and TID 4020 image library entries ---------------------------------------------

export const MODALITY = dcm('121139', 'Modality');
export const MAMMOGRAPHY_MODALITY = dcm('MG', 'Mammography');
export const TARGET_REGION = dcm('123014', 'Target Region');
export const BREAST = sct('76752008', 'Breast');
export const IMAGE_LATERALITY = dcm('111027', 'Image Laterality');
export const IMAGE_VIEW = dcm('111031', 'Image View');
export const IMAGE_VIEW_MODIFIER = dcm('111032', 'Image View Modifier');
export const STUDY_DATE = dcm('111060', 'Study Date');
export const STUDY_TIME = dcm('111061', 'Study Time');
export const PATIENT_ORIENTATION_ROW = dcm('111044', 'Patient Orientation Row');
export const PATIENT_ORIENTATION_COLUMN = dcm('111043', 'Patient Orientation Column');

/** CID 244 / CID 6022 laterality values. */
export const LEFT = sct('7771000', 'Left');
export const RIGHT = sct('24028007', 'Right');
export const RIGHT_AND_LEFT = sct('51440002', 'Right and left');

/**
 * CID 4014 View for Mammography (PS3.16), by the abbreviation the view selection reads from an
 * image without a View Code Sequence (its View Position or description). Codes as in the CID
 * 4014 table; XCCL is 399192008 (an earlier version of this table had 399192003, which is not
 * the code PS3.16 lists).
 */
export const MAMMOGRAPHY_VIEWS: Readonly<Record<string, Code>> = {
  CC: sct('399162004', 'cranio-caudal'),
  MLO: sct('399368009', 'medio-lateral oblique'),
  ML: sct('399260004', 'medio-lateral'),
  LM: sct('399352003', 'latero-medial'),
  XCCL: sct('399192008', 'cranio-caudal exaggerated laterally'),
  XCCM: sct('399101009', 'cranio-caudal exaggerated medially'),
  LMO: sct('399099002', 'latero-medial oblique'),
  FB: sct('399196006', 'caudo-cranial (from below)'),
  SIO: sct('399188001', 'superolateral to inferomedial oblique'),
  ISO: sct('441555000', 'inferomedial to superolateral oblique'),
};

/**
 * Coding schemes DICOM has deprecated: SNOMED-RT ("SRT"), SNOMED International 3 ("SNM3") and
 * the SNOMED DICOM Microglossary ("99SDM"). PS3.16 Annex J lists their retired codes; dciodvfy
 * warns "CodingSchemeDesignator is deprecated" for them. Vendors (GE among them) still code the
 * View Code Sequence and View Modifier Code Sequence of their mammograms in these schemes.
 */
export const DEPRECATED_SCHEMES: ReadonlySet<string> = new Set(['SRT', 'SNM3', '99SDM']);

/**
 * CID 4014 View for Mammography: the SNOMED CT code for each legacy (SNOMED-RT / SNOMED 3)
 * code value, from the "SNOMED-RT ID" column of the PS3.16 CID 4014 table; Y-X1770 and
 * Y-X1771 (the 99SDM codes of an earlier version of CID 4014) from PS3.16 Annex J, Table
 * "SNOMED Codes Retired from DICOM Use".
 */
export const LEGACY_VIEW_CODES: Readonly<Record<string, Code>> = {
  'R-10224': sct('399260004', 'medio-lateral'),
  'R-10226': sct('399368009', 'medio-lateral oblique'),
  'R-10228': sct('399352003', 'latero-medial'),
  'R-10230': sct('399099002', 'latero-medial oblique'),
  'R-10242': sct('399162004', 'cranio-caudal'),
  'R-10244': sct('399196006', 'caudo-cranial (from below)'),
  'R-102D0': sct('399188001', 'superolateral to inferomedial oblique'),
  'R-40AAA': sct('441555000', 'inferomedial to superolateral oblique'),
  'R-1024A': sct('399192008', 'cranio-caudal exaggerated laterally'),
  'R-1024B': sct('399101009', 'cranio-caudal exaggerated medially'),
  'G-8310': sct('127457009', 'tissue specimen from breast'),
  'Y-X1770': sct('399192008', 'cranio-caudal exaggerated laterally'),
  'Y-X1771': sct('399101009', 'cranio-caudal exaggerated medially'),
};

/**
 * CID 4015 View Modifier for Mammography: the SNOMED CT code for each legacy (SNOMED-RT /
 * SNOMED 3) code value, from the "SNOMED-RT ID" column of the PS3.16 CID 4015 table.
 * R-102C9 and R-102CA are also retired codes with other meanings ("Transthoracic",
 * "Lordotic": PS3.16 Annex J), so they are translated only when the image's meaning is the
 * mammography one (see `requiredMeaning`).
 */
export const LEGACY_VIEW_MODIFIER_CODES: Readonly<Record<string, Code & { requiredMeaning?: RegExp }>> = {
  'R-102D2': sct('399161006', 'Cleavage'),
  'R-102D1': sct('399011000', 'Axillary Tail'),
  'R-102D3': sct('399197002', 'Rolled Lateral'),
  'R-102D4': sct('399226006', 'Rolled Medial'),
  'R-102CA': { ...sct('414493004', 'Rolled Inferior'), requiredMeaning: /rolled\s*inferior/i },
  'R-102C9': { ...sct('415670009', 'Rolled Superior'), requiredMeaning: /rolled\s*superior/i },
  'R-102D5': sct('399209000', 'Implant Displaced'),
  'R-102D6': sct('399163009', 'Magnification'),
  'R-102D7': sct('399055006', 'Spot Compression'),
  'R-102C2': sct('399110001', 'Tangential'),
  'R-40AB3': sct('442581004', 'Nipple in profile'),
  'P2-00161': sct('441752004', 'Anterior compression'),
  'R-40ABE': sct('442593008', 'Infra-mammary fold'),
  'R-40AB2': sct('442580003', 'Axillary tissue'),
};

/**
 * The code a report writes for a view or view modifier code copied from an image: a code in a
 * deprecated scheme becomes its SNOMED CT equivalent from `table`; a code in any other scheme
 * stays as it is. A deprecated code with no equivalent (not in the table, or a retired code
 * whose meaning is not the mammography one) gives undefined: the report leaves it out, because
 * repeating it would carry a deprecated scheme into the report (a validation warning) and
 * guessing a translation could state a view the image was not taken in.
 */
export function translateLegacyCode(code: Code, table: Readonly<Record<string, Code & { requiredMeaning?: RegExp }>>): Code | undefined {
  if (!DEPRECATED_SCHEMES.has(code.scheme.toUpperCase())) return code;
  const known = table[code.value.toUpperCase()];
  if (!known || (known.requiredMeaning && !known.requiredMeaning.test(code.meaning))) return undefined;
  return { value: known.value, scheme: known.scheme, meaning: known.meaning };
}

// TID 1501 measurement groups, TID 300 measurements, TID 310 properties ------------------------

export const TRACKING_IDENTIFIER = dcm('112039', 'Tracking Identifier');
export const TRACKING_UNIQUE_IDENTIFIER = dcm('112040', 'Tracking Unique Identifier');
export const FINDING_SITE = sct('363698007', 'Finding Site');
export const LATERALITY = sct('272741003', 'Laterality');
/**
 * The score itself. DCM has no "probability of malignancy" concept; "Probability of cancer"
 * (defined for CAD as "the likelihood that an identified finding or feature is cancerous") is
 * the standard code closest to it, and the one mammography CAD readers know.
 */
export const PROBABILITY_OF_CANCER = dcm('111047', 'Probability of cancer');
export const SOURCE_OF_MEASUREMENT = dcm('121112', 'Source of Measurement');
/** TID 310 row: the measurement judged against the site's operating threshold. */
export const NORMALITY = dcm('121402', 'Normality');
/** CID 222 values: at or above the operating threshold the result is "Abnormal" (recall), below it "Normal". */
export const ABNORMAL = sct('263654008', 'Abnormal');
export const NORMAL = sct('17621005', 'Normal');
export const NO_UNITS = ucum('1', 'no units');
export const PERCENT = ucum('%', 'Percent');

// Notes a reader must see: research use, per-image flags, images not scored ----------------------

/**
 * A free-text remark (DCM 121106). TID 1500 and TID 1501 are extensible (PS3.16 §6.2.5), and
 * TID 1501 has a CONTAINS TEXT row for qualitative evaluations; mammocad writes its research-use
 * statement and images it did not score under the TID 1500 root, and per-image flags in the
 * image's measurement group, all as Comment.
 */
export const COMMENT = dcm('121106', 'Comment');
/** TID 4002 row 5 (Mammography CAD Impression/Recommendation Body): free text of an overall or individual impression. */
export const IMPRESSION_DESCRIPTION = dcm('111033', 'Impression Description');
/** TID 4006 Single Image Finding of type Selected region: "a textual description of the contents of a selected region". */
export const SELECTED_REGION_DESCRIPTION = dcm('111058', 'Selected Region Description');

// TID 4019 algorithm identification ------------------------------------------------------------

export const ALGORITHM_NAME = dcm('111001', 'Algorithm Name');
export const ALGORITHM_VERSION = dcm('111003', 'Algorithm Version');
export const ALGORITHM_PARAMETERS = dcm('111002', 'Algorithm Parameters');

// TID 4000 family (Mammography CAD SR) ---------------------------------------------------------

export const CAD_PROCESSING_AND_FINDINGS_SUMMARY = dcm('111017', 'CAD Processing and Findings Summary');
/** CID 6047 values. */
export const ALL_SUCCEEDED_WITH_FINDINGS = dcm('111242', 'All algorithms succeeded; with findings');
export const ALL_SUCCEEDED_WITHOUT_FINDINGS = dcm('111241', 'All algorithms succeeded; without findings');
export const INDIVIDUAL_IMPRESSION_RECOMMENDATION = dcm('111034', 'Individual Impression/Recommendation');
export const COMPOSITE_FEATURE = dcm('111015', 'Composite Feature');
export const SINGLE_IMAGE_FINDING = dcm('111059', 'Single Image Finding');
/**
 * The finding type (CID 6014, included in CID 6016) for a whole-image score: the classifier
 * neither detects nor localises lesions, so the finding is the region it looked at.
 */
export const SELECTED_REGION = dcm('111099', 'Selected region');
export const RENDERING_INTENT = dcm('111056', 'Rendering Intent');
/** CID 6034 values: positive results must be shown, negative ones may be. */
export const PRESENTATION_REQUIRED = dcm('111150', 'Presentation Required: Rendering device is expected to present');
export const PRESENTATION_OPTIONAL = dcm('111151', 'Presentation Optional: Rendering device may present');
export const SUMMARY_OF_DETECTIONS = dcm('111064', 'Summary of Detections');
export const SUMMARY_OF_ANALYSES = dcm('111065', 'Summary of Analyses');
/** CID 6042 Status of Results. */
export const SUCCEEDED = dcm('111222', 'Succeeded');
export const NOT_ATTEMPTED = dcm('111225', 'Not Attempted');
export const SUCCESSFUL_DETECTIONS = dcm('111063', 'Successful Detections');
export const DETECTION_PERFORMED = dcm('111022', 'Detection Performed');

// Marked regions (issue 16): where the model looks, on the image --------------------------------

/** TID 4021 Mammography CAD Geometry: the centre of a finding on its image, a SCOORD POINT. */
export const CENTER = dcm('111010', 'Center');
/** TID 4021 Mammography CAD Geometry: the outline of a finding on its image, a SCOORD (a closed POLYLINE here). */
export const OUTLINE = dcm('111041', 'Outline');
/** TID 1410 Planar ROI Measurements and Qualitative Evaluations: the region measured, a SCOORD on one image. */
export const IMAGE_REGION = dcm('111030', 'Image Region');
/** TID 1410: the image an Image Region (or Center) is SELECTED FROM. */
export const ORIGINAL_SOURCE = dcm('111040', 'Original Source');
