// Runs a TypeScript entry with plain node: `node scripts/run-ts.mjs test/bench/bench.ts [args…]`.
import { importTs } from './lib/import-ts.mjs';

const entry = process.argv[2];
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs <entry.ts> [args…]');
  process.exit(2);
}
process.argv.splice(2, 1);
await importTs(entry);
