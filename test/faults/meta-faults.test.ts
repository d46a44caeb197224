// Seeded fault runs in meta mode: 20 functions deployed through a proxy that fails 20 % of the writes with a
// 503, drops 5 % of the answers after Meta acted, and holds 2 % past the runner's timeout so they land late.
// After each run the report and the record must tell the truth about what Meta holds, nothing may exist twice,
// and every create must be idempotent (client id, same on a retry, looked up first); then a fault-free rerun
// converges and a stop leaves nothing.
import { metaCreatesAreIdempotent, metaDuplicates, metaLeft, metaRecordCovers, metaReportMatches, startMetaWorld } from '../support/deploy-state.js';
import { GF_SECRET } from '../integration/setup.js';
import { FUNCTIONS, describeFaultRuns } from './fault-run.js';

describeFaultRuns('meta', 4, async (names) => {
  const world = await startMetaWorld(GF_SECRET);
  const { meta } = world;
  const truthful = (r: { files: { json?: unknown } }, record: unknown) => [
    ...metaReportMatches(r.files.json, names, meta, record),
    ...metaRecordCovers(record, meta),
    ...metaDuplicates(meta),
  ];
  return {
    target: meta.url,
    vars: (url) => world.vars(url),
    afterFaults: (r, record, proxy) => [...truthful(r, record), ...metaCreatesAreIdempotent(proxy.requests, 'acme/lambdas', 'review/main')],
    afterRerun: (r, record) => {
      const held = meta.lambdas().map((l) => l.name).sort();
      return [
        ...truthful(r, record),
        ...(JSON.stringify(held) === JSON.stringify(names) ? [] : [`Meta holds ${held.join(', ')}`]),
        ...(meta.endpoints().length === FUNCTIONS ? [] : [`Meta holds ${meta.endpoints().length} endpoints`]),
      ];
    },
    left: metaLeft(meta),
    close: () => world.close(),
  };
});
