export { DEV_TOKEN_ACTION, DevTokenMint, isLoopbackAddress, type DevTokenMintOptions, type DevTokenRequest, type MintRefusal, type MintRefusals, type RequestOrigin } from './dev-tokens.js';
