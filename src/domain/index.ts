// Plain domain types and errors: no I/O, no dependencies on other folders.
export * from './errors.js';
export * from './records.js';
export * from './vocabulary.js';
export * from './aggregate.js';
export * from './heatmap.js';
