export { loadAead, KEY_BYTES, NONCE_BYTES, type Aead } from './aead.js';
export { readEnvelopeHeader, envelopePlaintextBytes, ENVELOPE_OVERHEAD, type EnvelopeHeader } from './envelope.js';
export { type KeyProvider, type DataKeyContext } from './key-provider.js';
export { openLocalKeyProvider } from './local-provider.js';
export { KeyRing, DataKey, RecordOpener, RecordSealer, dataKeyId, type DataKeyBundle, type RecordToSeal, type SealedRecords, type StoredDataKey, type KeyRingOptions } from './key-ring.js';
export type { RecordBinding } from './record-context.js';
export { FixedLengthSiv } from './siv.js';
export { MonthKeys, compareMonths, nextMonth, type Month, type RatchetAnchor, type RatchetAnchorStore } from './month-keys.js';
export { openPkcs11KeyProvider, type Pkcs11KeyProviderOptions } from './pkcs11-provider.js';
