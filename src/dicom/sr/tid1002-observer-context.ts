// TID 1002 Observer Context with TID 1004 Device Observer Identifying Attributes: the
// observations in a TID 1500 report were made by a device (mammocad), not by a person. This
// is what dcmjs's own helpers cannot write (they force a person observer). The software
// version has no row in TID 1004; it is in the General Equipment module (Software Versions).

import { ReportParseError, ValidationError } from '../../domain/index.js';
import { isDicomUid } from '../dicom-json.js';
import {
  DEVICE,
  DEVICE_OBSERVER_MANUFACTURER,
  DEVICE_OBSERVER_MODEL_NAME,
  DEVICE_OBSERVER_NAME,
  DEVICE_OBSERVER_UID,
  OBSERVER_TYPE,
  sameCode,
} from './codes.js';
import {
  codeContentItem,
  codeValueOf,
  requireChild,
  textContentItem,
  textValueOf,
  uidrefContentItem,
  uidValueOf,
  type ContentItem,
} from './content-items.js';

export interface DeviceObserverIdentity {
  uid: string;
  manufacturer: string;
  modelName: string;
}

export class Tid1002ObserverContext {
  static readonly TEMPLATE_ID = '1002';

  constructor(readonly device: DeviceObserverIdentity) {
    if (!isDicomUid(device.uid)) throw new ValidationError('device.uid', `must be a DICOM UID; got '${device.uid}'`);
    if (!device.manufacturer?.trim()) throw new ValidationError('device.manufacturer', 'is required');
    if (!device.modelName?.trim()) throw new ValidationError('device.modelName', 'is required');
  }

  /** HAS OBS CONTEXT items for the document root. */
  items(): ContentItem[] {
    return [
      codeContentItem('HAS OBS CONTEXT', OBSERVER_TYPE, DEVICE),
      uidrefContentItem('HAS OBS CONTEXT', DEVICE_OBSERVER_UID, this.device.uid),
      textContentItem('HAS OBS CONTEXT', DEVICE_OBSERVER_NAME, this.device.modelName),
      textContentItem('HAS OBS CONTEXT', DEVICE_OBSERVER_MANUFACTURER, this.device.manufacturer),
      textContentItem('HAS OBS CONTEXT', DEVICE_OBSERVER_MODEL_NAME, this.device.modelName),
    ];
  }

  static parse(root: ContentItem, where: string): Tid1002ObserverContext {
    const type = codeValueOf(requireChild(root, OBSERVER_TYPE, 'CODE', where), where);
    if (!sameCode(type, DEVICE)) throw new ReportParseError(`${where}: the observer is a '${type.meaning}', not a device`);
    return new Tid1002ObserverContext({
      uid: uidValueOf(requireChild(root, DEVICE_OBSERVER_UID, 'UIDREF', where)),
      manufacturer: textValueOf(requireChild(root, DEVICE_OBSERVER_MANUFACTURER, 'TEXT', where)),
      modelName: textValueOf(requireChild(root, DEVICE_OBSERVER_MODEL_NAME, 'TEXT', where)),
    });
  }
}
