// SOP Class UIDs the view selection reasons about (PS3.4 Annex B).

export const SOP_CLASS = {
  digitalMammographyForPresentation: '1.2.840.10008.5.1.4.1.1.1.2',
  digitalMammographyForProcessing: '1.2.840.10008.5.1.4.1.1.1.2.1',
  digitalXRayForPresentation: '1.2.840.10008.5.1.4.1.1.1.1',
  digitalXRayForProcessing: '1.2.840.10008.5.1.4.1.1.1.1.1',
  computedRadiography: '1.2.840.10008.5.1.4.1.1.1',
  secondaryCapture: '1.2.840.10008.5.1.4.1.1.7',
  multiFrameGrayscaleWordSecondaryCapture: '1.2.840.10008.5.1.4.1.1.7.3',
  breastTomosynthesis: '1.2.840.10008.5.1.4.1.1.13.1.3',
  breastProjectionXRayForPresentation: '1.2.840.10008.5.1.4.1.1.13.1.4',
  breastProjectionXRayForProcessing: '1.2.840.10008.5.1.4.1.1.13.1.5',
  xRayRadiationDoseSr: '1.2.840.10008.5.1.4.1.1.88.67',
  comprehensiveSr: '1.2.840.10008.5.1.4.1.1.88.33',
  mammographyCadSr: '1.2.840.10008.5.1.4.1.1.88.50',
  encapsulatedPdf: '1.2.840.10008.5.1.4.1.1.104.1',
  grayscaleSoftcopyPresentationState: '1.2.840.10008.5.1.4.1.1.11.1',
} as const;

/** Every Structured Report storage class shares this root. */
export const SR_CLASS_ROOT = '1.2.840.10008.5.1.4.1.1.88.';

/** Image storage classes that carry a single projection image suitable for the classifier. */
export const PROJECTION_IMAGE_CLASSES: readonly string[] = [
  SOP_CLASS.digitalMammographyForPresentation,
  SOP_CLASS.digitalXRayForPresentation,
  SOP_CLASS.computedRadiography,
  SOP_CLASS.secondaryCapture,
  SOP_CLASS.breastProjectionXRayForPresentation,
];

export const FOR_PROCESSING_CLASSES: readonly string[] = [
  SOP_CLASS.digitalMammographyForProcessing,
  SOP_CLASS.digitalXRayForProcessing,
  SOP_CLASS.breastProjectionXRayForProcessing,
];
