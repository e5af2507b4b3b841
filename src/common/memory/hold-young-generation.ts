import { holdYoungGeneration } from './gc';

// main.ts imports this module first, so that the young generation is held before any of the
// app's modules is loaded; releaseStartupGarbage lets it go once the app is built.
holdYoungGeneration();
