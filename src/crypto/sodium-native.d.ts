declare module 'sodium-native' {
  const sodium: {
    crypto_aead_xchacha20poly1305_ietf_encrypt(c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number;
    crypto_aead_xchacha20poly1305_ietf_decrypt(m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number;
    crypto_aead_xchacha20poly1305_ietf_ABYTES: number;
    sodium_memzero(buf: Uint8Array): void;
  };
  export default sodium;
}
