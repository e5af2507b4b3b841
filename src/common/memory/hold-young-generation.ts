import { holdYoungGeneration } from './gc';

// main.ts imports this module first, so that the young generation is held before any of the
// app's modules is loaded; main.ts releases it once the app is built.
export const releaseStartupHold = holdYoungGeneration();
