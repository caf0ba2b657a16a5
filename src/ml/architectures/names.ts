// The names of the backbones and tops, apart from the tfjs code that builds them: settings and
// command lines validate against them without loading tfjs (a second of start-up).

export const BACKBONE_NAMES = ['resnet50', 'vgg16', 'yaroslavnet', 'mobilenet'] as const;
export type BackboneName = (typeof BACKBONE_NAMES)[number];

export const TOP_NAMES = ['resnet', 'vgg'] as const;
export type TopName = (typeof TOP_NAMES)[number];

/** Input pixels per position of each backbone's output feature map. */
export const BACKBONE_STRIDES: Readonly<Record<BackboneName, number>> = { resnet50: 32, vgg16: 32, yaroslavnet: 64, mobilenet: 32 };

/** The further stride of each whole-image top (the VGG top ends in a 2x2 max pool, so it needs a 2x2 feature map). */
export const TOP_STRIDES: Readonly<Record<TopName, number>> = { resnet: 1, vgg: 2 };

/** The smallest input side a backbone (with a top, for a whole-image model) accepts. */
export function minimumInputSize(backbone: BackboneName, top?: TopName): number {
  return BACKBONE_STRIDES[backbone] * (top ? TOP_STRIDES[top] : 1);
}
