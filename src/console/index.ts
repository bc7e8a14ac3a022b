export { DevTokenMint, isLoopbackAddress, type DevTokenMintOptions, type DevTokenRequest, type RequestOrigin } from './dev-tokens.js';
