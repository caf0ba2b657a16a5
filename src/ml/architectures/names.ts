// The names of the backbones and tops, apart from the tfjs code that builds them: settings and
// command lines validate against them without loading tfjs (a second of start-up).

export const BACKBONE_NAMES = ['resnet50', 'vgg16', 'yaroslavnet'] as const;
export type BackboneName = (typeof BACKBONE_NAMES)[number];

export const TOP_NAMES = ['resnet', 'vgg'] as const;
export type TopName = (typeof TOP_NAMES)[number];
