export { loadAead, KEY_BYTES, NONCE_BYTES, type Aead } from './aead.js';
export { readEnvelopeHeader, ENVELOPE_OVERHEAD, type EnvelopeHeader } from './envelope.js';
export { openLocalKeyProvider, type KeyProvider, type DataKeyContext } from './key-provider.js';
export { KeyRing, DataKey, dataKeyId, type RecordBinding, type StoredDataKey, type KeyRingOptions } from './key-ring.js';
export { FixedLengthSiv } from './siv.js';
