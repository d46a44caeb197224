import { debugEnabled } from './config/checks.js';
import { redactor } from './log/redact.js';
import { main } from './main.js';
import { EXIT } from './errors.js';
import { CANCEL_GRACE_MS, cancellation } from './net/cancel.js';

// The SDK warns on Node 20 about future releases; that is noise in a CI log, not something the user can act on here.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name !== 'NodeVersionSupportWarning' && !/NodeVersionSupport|support for Node\.js/i.test(w.message)) process.stderr.write(redactor.redact(`${w.name}: ${w.message}\n`));
});

// A reader that went away (`gestalt-deploy plan | head -1`) ends only the output, quietly: the command still
// finishes its work and writes its reports. Writes to the closed pipe after this are dropped by the stream.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

// With debug on, stack traces name src/… files and lines through the source map next to the bundle (when it is
// there). Node only maps modules loaded after source maps are switched on, so the bundle loads itself once more;
// the `?source-maps` copy handles signals and runs the command.
const SOURCE_MAPS = 'source-maps';
const debug = process.argv.includes('--debug') || debugEnabled(process.env);
if (debug && new URL(import.meta.url).search !== `?${SOURCE_MAPS}` && typeof process.setSourceMapsEnabled === 'function') {
  process.setSourceMapsEnabled(true);
  await import(`${import.meta.url}?${SOURCE_MAPS}`);
} else {
  // GitLab cancels a job with SIGTERM: stop starting changes, finish or abort what is in flight, write the record
  // and reports, then exit 143 (130 for SIGINT). A second signal means "now".
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (cancellation.signal) process.exit(signal === 'SIGINT' ? EXIT.sigint : EXIT.sigterm);
      process.stderr.write(`gestalt-deploy: ${signal} received; finishing what is in flight (at most ${CANCEL_GRACE_MS / 1000} s), then writing the record and reports.\n`);
      cancellation.request(signal);
    });
  }
  process.exitCode = await main(process.argv.slice(2), process.env, process.cwd());
}
