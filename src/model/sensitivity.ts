/**
 * Sensitivity levels: 0 telemetry, 1 interaction, 2 typed content, 3 visual content, 4 special
 * category (health, tax, HR). Level 4 never leaves the vault, whatever a policy says.
 */
export const SPECIAL_CATEGORY = 4;
export const MAX_SENSITIVITY = SPECIAL_CATEGORY;
export const NEVER_EXPORTED_SENSITIVITY = SPECIAL_CATEGORY;

export const isSensitivity = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_SENSITIVITY;
