/**
 * Every workflow ferry registers (the worker bundles this module). The exported names are the
 * workflow types in histories: renaming one is a breaking change.
 */
export { checkpoint } from './checkpoint';
export { restore } from './restore';
export { migrate } from './migrate';
export { warmPreDump, addWarmLayer } from './warm';
