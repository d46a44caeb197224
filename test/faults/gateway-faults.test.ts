// Seeded fault runs in gateway mode: 20 deploy POSTs to the deployment lambda through a proxy that fails 20 %
// with a 503, drops 5 % of the answers after the lambda acted, and holds 2 % past the runner's timeout. The
// lambda cannot be listed, so the record must name every function that may exist; a POST that timed out must
// not be sent again while the first may still be running (the original looks up by name, then creates).
import { API, gatewayLeft, gatewayOverlappingDeploys, gatewayRecordCovers, gatewayReportMatches, startGatewayWorld } from '../support/deploy-state.js';
import { ENV_ID } from '../integration/setup.js';
import { describeFaultRuns } from './fault-run.js';

describeFaultRuns('gateway', 48, async (names) => {
  const world = await startGatewayWorld(ENV_ID);
  const { gateway } = world;
  const truthful = (r: { files: { json?: unknown } }, record: unknown) => [...gatewayReportMatches(r.files.json, names, gateway, record), ...gatewayRecordCovers(record, gateway)];
  return {
    target: gateway.url.replace(/\/deploy$/, ''),
    vars: (url) => world.vars(url),
    afterFaults: (r, record, proxy) => [...truthful(r, record), ...gatewayOverlappingDeploys(proxy.requests)],
    afterRerun: (r, record) => {
      const held = [...gateway.lambdas().keys()].sort();
      const endpoints = gateway.endpoints().get(API) ?? [];
      return [
        ...truthful(r, record),
        ...(JSON.stringify(held) === JSON.stringify(names) ? [] : [`the deployment lambda holds ${held.join(', ')}`]),
        ...(JSON.stringify(endpoints) === JSON.stringify(names) ? [] : [`API ${API} has endpoints ${endpoints.join(', ')}`]),
      ];
    },
    left: gatewayLeft(gateway),
    close: () => world.close(),
  };
});
