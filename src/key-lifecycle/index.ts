export { KekRotation, type KeyStatus, type RotationReport, type RotationView, type RotationDeps } from './rotation.js';
