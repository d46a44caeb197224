// Entry point for scripts/demo.mjs, which bundles it with esbuild (the stand-ins are TypeScript and the demo runs
// with plain node): everything needed to run an example pipeline against the local stack.
export * from './stack.js';
export * from './stack-pipeline.js';
export { REPO_ROOT, startTemplateServer } from './template-server.js';
