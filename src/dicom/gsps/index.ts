// Presentation states: the regions the model marks, drawn on the images for every PACS viewer
// (Grayscale Softcopy Presentation State). presentation-state.ts describes its content.
export {
  buildPresentationState,
  GRAPHIC_LAYER,
  PRESENTATION_DESCRIPTION,
  PRESENTATION_STATE_SOP_CLASS_UID,
  RESEARCH_PRESENTATION_DESCRIPTION,
  type BuiltPresentationState,
  type PresentationStateOptions,
} from './presentation-state.js';
