// Injected by scripts/build.mjs; running from sources (vitest) falls back to a dev marker.
declare const __GESTALT_DEPLOY_VERSION__: string | undefined;

export const VERSION: string =
  typeof __GESTALT_DEPLOY_VERSION__ === 'string' ? __GESTALT_DEPLOY_VERSION__ : '0.0.0-dev';
