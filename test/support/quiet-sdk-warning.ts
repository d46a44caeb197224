// Vitest setup file: the AWS SDK warns once per process, on Node 20, that its releases after early 2027 need
// Node 22. The tests use the SDK in-process, so every worker printed that block. Drop that one warning here, in
// the test processes only; every other warning still prints. The runner silences it itself (src/cli.ts), and child
// processes are left alone, so the runner's own filter stays what the tests see.
const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;

process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const text = typeof warning === 'string' ? warning : `${warning.name}: ${warning.message}`;
  if (text.startsWith('NodeVersionSupportWarning')) return;
  emitWarning(warning, ...rest);
}) as typeof process.emitWarning;
