import type { MetaResource } from './client.js';

// Ownership marks: every lambda and endpoint the runner creates carries, in Meta's top-level `variables`
// (a string map Meta stores and returns with any resource), the project and environment it was deployed
// for. Nothing is changed or deleted unless its mark says it is this project's and this environment's.

export const MARK_PROJECT = 'gestalt-deploy.project';
export const MARK_ENVIRONMENT = 'gestalt-deploy.environment';

export interface Owner {
  projectPath: string;
  environment: string;
}

export function ownershipMark(owner: Owner): Record<string, string> {
  return { [MARK_PROJECT]: owner.projectPath, [MARK_ENVIRONMENT]: owner.environment };
}

/** Undefined when the resource is provably ours; otherwise why not, as a phrase for a sentence. */
export function notOwned(resource: MetaResource, owner: Owner): string | undefined {
  const vars = resource.variables;
  const marks = vars && typeof vars === 'object' && !Array.isArray(vars) ? (vars as Record<string, unknown>) : {};
  const project = marks[MARK_PROJECT];
  const environment = marks[MARK_ENVIRONMENT];
  if (project === undefined && environment === undefined) return 'it carries no gestalt-deploy ownership mark (created by hand or by another tool)';
  if (project !== owner.projectPath) return `its ownership mark names project ${JSON.stringify(project)}, not '${owner.projectPath}'`;
  if (environment !== owner.environment) return `its ownership mark names environment ${JSON.stringify(environment)}, not '${owner.environment}'`;
  return undefined;
}
