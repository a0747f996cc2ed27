/**
 * USB mass storage: a Bulk-Only Transport stick speaking SCSI (`UsbMassStorage`) over a block store
 * (`BlockStore`: memory, read-only, copy-on-write here; a file in `uhci/node`). See README.md here.
 */
export * from "./block-store.ts";
export * from "./cow-store.ts";
export {
  Bot,
  BotPhase,
  CswStatus,
  MASS_STORAGE_STATE,
  MASS_STORAGE_STATE_VERSION,
  type MassStorageOptions,
  type MassStorageStats,
  STORAGE_BULK_IN,
  STORAGE_BULK_OUT,
  STORAGE_MAX_PACKET,
  UsbMassStorage,
} from "./mass-storage.ts";
export { encodeFixedSense, FIXED_SENSE_LENGTH, ScsiOp, type Sense, SenseKey, Senses } from "./scsi.ts";
