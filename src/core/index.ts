/**
 * ferry's pure core: the rules every layer shares, workflows included. No Node built-ins, no I/O,
 * no packages: one rule, one place (see docs/architecture.md).
 */
export * from './ferry-error';
export * from './errors';
export * from './ids';
export * from './names';
export * from './criu-options';
export * from './rates';
