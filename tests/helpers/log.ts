import type { Logger } from '../../services/shared/log.js';

/** A logger that discards everything. */
export const silent: Logger = Object.freeze({ debug() {}, info() {}, warn() {}, error() {} });
