// `@sluice/dataplane/testing`: what tests and benchmarks share and the director never needs: the
// example snapshot, a UDP socket standing in for a VTEP, and waiting for a condition.
export { type ExampleSnapshotOptions, exampleSnapshot, oneRealSnapshot } from './example-snapshot.ts';
export { until, vtepSocket } from './test-helpers.ts';
