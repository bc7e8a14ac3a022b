export interface DataKeyContext {
  readonly employeeId: string;
  readonly dekVersion: number;
}

/**
 * The root of the key hierarchy. A provider wraps and unwraps data keys and the vault's secrets
 * under a key-encryption key (KEK) that never leaves it, so an HSM or a cloud KMS implements the
 * same calls remotely. It may hold several KEKs during a rotation: new wraps use the active one,
 * and a wrapped blob names the KEK that wrapped it, so unwrapping finds it whichever it is.
 */
export interface KeyProvider {
  /** Stable identifier of the active KEK, e.g. `local:3f2a9c1b0d4e5f60` or `pkcs11:vault-kek:0a1b...`. */
  readonly kekId: string;
  /** The 8 bytes that name the active KEK (record envelope headers carry them). */
  readonly kekFingerprint: Buffer;
  /** Every KEK this provider can unwrap with, the active one first. */
  kekIds(): string[];
  /** Which KEK wrapped `wrapped` (read from the blob; nothing is unwrapped); `ERR_DECRYPT_FAILED` when malformed. */
  kekOf(wrapped: Uint8Array): string;
  /** Wraps up to 1 KiB of key material under the active KEK, bound to `context` (employee and version). */
  wrapDataKey(dek: Uint8Array, context: DataKeyContext): Promise<Buffer>;
  /** Unwraps with whichever KEK wrapped it: `ERR_KEY_UNAVAILABLE` when this provider does not hold that KEK, `ERR_DECRYPT_FAILED` when the blob or its context was altered. */
  unwrapDataKey(wrapped: Uint8Array, context: DataKeyContext): Promise<Buffer>;
  /** Wraps one of the vault's own secrets (audit MAC key, checkpoint signing key), bound to its name. */
  wrapSecret(name: string, secret: Uint8Array): Promise<Buffer>;
  unwrapSecret(name: string, wrapped: Uint8Array): Promise<Buffer>;
  /**
   * Rotation: creates a new KEK and makes it the active one; the others stay for unwrapping.
   * Returns its id. Crash-safe: a KEK is durable before it wraps anything.
   */
  createKek(): Promise<string>;
  /** Reloads the KEKs from where they are kept (another instance rotated). */
  refresh(): Promise<void>;
  /** Destroys a KEK that is not the active one and that nothing references any more. */
  retireKek(kekId: string): Promise<void>;
  /**
   * The month-key ratchet's state, kept outside the database (a file beside the KEK, or an object
   * in the HSM token): undefined before the first write. The bytes are opaque here (the vault
   * seals them with `wrapSecret` before writing).
   */
  readMonthRatchet(): Promise<Uint8Array | undefined>;
  /** Replaces the ratchet's state durably (fsync, or the token's own persistence) before resolving. */
  writeMonthRatchet(state: Uint8Array): Promise<void>;
  /** Zeroes key material held in memory; later calls fail with `ERR_KEY_UNAVAILABLE`. */
  close(): void;
}
