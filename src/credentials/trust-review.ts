import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Config } from '../config/types.js';
import type { Problem } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { providerHost, trustCondition, type TokenClaims } from './diagnose.js';

// What `doctor` can tell about the role's trust policy. STS never shows a role's trust policy, and the deploy role
// usually may not read it (iam:GetRole), so doctor reviews what it can see: the job's claims, whether the role
// admitted them, AWS_ROLE_CHAIN, and — when GESTALT_TRUST_POLICY hands it the policy (a file or the JSON itself) —
// the policy's own conditions. Each finding says what is too wide and gives the stricter Condition to use.

/** GitLab puts no session tags in ID tokens; a token that carries this claim asks STS to tag the session. */
export const SESSION_TAGS_CLAIM = 'https://aws.amazon.com/tags';

export interface TrustFinding {
  /** What is too wide, and who it lets in. */
  risk: string;
  /** What to change. */
  fix: string;
  /** The stricter Condition (or statement) to use instead. */
  example?: object;
}

export interface PolicyStatement {
  Effect?: string;
  Action?: string | string[];
  Principal?: { Federated?: string | string[]; AWS?: string | string[] } | string;
  Condition?: Record<string, Record<string, string | string[]>>;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const hasWildcard = (s: string) => /[*?]/.test(s);

/**
 * GESTALT_TRUST_POLICY: the policy document as JSON, `aws iam get-role` output, or a path (relative to the project
 * dir) to a file holding either. Returns its statements, or a problem naming the variable.
 */
export function readTrustPolicy(value: string | undefined, projectDir: string): { statements?: PolicyStatement[]; problem?: Problem } {
  if (!value?.trim()) return {};
  const problem = (message: string) => ({ problem: { variable: 'GESTALT_TRUST_POLICY', message } });
  let text = value.trim();
  if (!text.startsWith('{')) {
    const path = isAbsolute(text) ? text : resolve(projectDir, text);
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return problem(`'${value.trim()}' is neither JSON nor a readable file; give the role's trust policy (aws iam get-role --query Role.AssumeRolePolicyDocument) or a file holding it.`);
    }
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return problem('is not valid JSON; give the role\'s trust policy document as `aws iam get-role --query Role.AssumeRolePolicyDocument` prints it.');
  }
  // `aws iam get-role` output, and the API's URL-encoded document, are accepted as they come.
  let policy = (doc as { Role?: { AssumeRolePolicyDocument?: unknown } })?.Role?.AssumeRolePolicyDocument ?? doc;
  if (typeof policy === 'string') {
    try {
      policy = JSON.parse(decodeURIComponent(policy));
    } catch {
      return problem('holds an AssumeRolePolicyDocument that is not JSON.');
    }
  }
  const statements = list((policy as { Statement?: PolicyStatement | PolicyStatement[] })?.Statement);
  if (statements.length === 0) return problem('has no Statement; give the whole trust policy document.');
  return { statements };
}

/** The sub this job has, for the ref given (this job's own by default). */
function exactSub(claims: TokenClaims, ref = claims.ref ?? '<ref>'): string {
  return `project_path:${claims.project_path ?? '<group>/<project>'}:ref_type:${claims.ref_type ?? 'branch'}:ref:${ref}`;
}

/** The stricter Condition: this project, and this job's ref if it is protected (else a protected branch to fill in). */
function stricterCondition(claims: TokenClaims): object {
  return trustCondition(claims, exactSub(claims, claims.ref_protected === 'true' ? claims.ref : '<protected branch, e.g. main>'));
}

function subValues(statement: PolicyStatement, host: string): string[] | undefined {
  const key = `${host}:sub`.toLowerCase();
  let found: string[] | undefined;
  for (const [operator, block] of Object.entries(statement.Condition ?? {})) {
    // A negated condition narrows nothing that matters here.
    if (/Not/.test(operator)) continue;
    for (const [k, v] of Object.entries(block ?? {})) if (k.toLowerCase() === key) found = [...(found ?? []), ...list(v)];
  }
  return found;
}

function isWebIdentity(statement: PolicyStatement, host: string): boolean {
  if (statement.Effect !== 'Allow') return false;
  const actions = list(statement.Action);
  if (!actions.some((a) => a === 'sts:AssumeRoleWithWebIdentity' || a === 'sts:*' || a === '*')) return false;
  const principals = typeof statement.Principal === 'object' ? list(statement.Principal.Federated) : [];
  return principals.some((p) => p.endsWith(`:oidc-provider/${host}`));
}

/** One sub pattern: what it admits beyond this project's protected refs. */
function reviewSub(pattern: string, claims: TokenClaims, host: string, role: string): TrustFinding[] {
  const m = /^project_path:(.+):ref_type:([^:]+):ref:(.*)$/.exec(pattern);
  const project = m?.[1] ?? pattern;
  const refType = m?.[2] ?? '*';
  const ref = m?.[3] ?? '*';
  const condition = stricterCondition(claims);
  if (project === '*' || (!m && hasWildcard(pattern))) {
    const refs = hasWildcard(ref) ? 'every branch of every project' : `every project's ${refType} '${ref}'`;
    return [{
      risk: `the trust policy of ${role} admits "${host}:sub" "${pattern}": ${refs} on ${host}, so anyone who can run a pipeline there can assume it.`,
      fix: 'Name the project and the ref in the sub condition.',
      example: condition,
    }];
  }
  const findings: TrustFinding[] = [];
  if (hasWildcard(project)) {
    findings.push({
      risk: `the trust policy of ${role} admits "${host}:sub" "${pattern}": every project whose path matches "${project}", including forks (a fork's jobs carry the fork's own project_path, e.g. ${project.replace(/^[^/]*\*[^/]*\//, 'someone-else/').replace(/\*/g, 'x')}).`,
      fix: 'Name the project exactly (StringEquals, or StringLike with no wildcard before the ref).',
      example: condition,
    });
  }
  if (hasWildcard(ref) && refType !== 'tag') {
    findings.push({
      risk: `the trust policy of ${role} admits every branch${hasWildcard(refType) ? ' and tag' : ''} of ${hasWildcard(project) ? 'those projects' : project} ("${pattern}"): unprotected branches anyone with the Developer role can push, and merge request pipelines from forks that run in this project.`,
      fix: 'Admit protected branches or tags only (an exact ref, or a pattern only protected refs can match), and give review environments a role of their own with less access.',
      example: condition,
    });
  }
  return findings;
}

/** Findings from the trust policy itself (GESTALT_TRUST_POLICY). */
export function reviewTrustPolicy(statements: PolicyStatement[], claims: TokenClaims, role: string): TrustFinding[] {
  const host = providerHost(claims.iss ?? '');
  const findings: TrustFinding[] = [];
  const webIdentity = statements.filter((s) => isWebIdentity(s, host));
  if (webIdentity.length === 0) {
    return [{ risk: `the trust policy in GESTALT_TRUST_POLICY has no Allow statement for sts:AssumeRoleWithWebIdentity from the OIDC provider ${host}.`, fix: 'Check that GESTALT_TRUST_POLICY is the trust policy of AWS_ROLE_ARN.' }];
  }
  for (const statement of webIdentity) {
    const subs = subValues(statement, host);
    if (!subs) {
      findings.push({
        risk: `the trust policy of ${role} has no "${host}:sub" condition: any job of any project on ${host} whose token has the right audience can assume it.`,
        fix: `Add a "${host}:sub" condition naming the project and the ref.`,
        example: stricterCondition(claims),
      });
      continue;
    }
    for (const sub of subs) findings.push(...reviewSub(sub, claims, host, role));
    if (claims[SESSION_TAGS_CLAIM] !== undefined && !list(statement.Action).some((a) => a === 'sts:TagSession' || a === 'sts:*' || a === '*')) {
      findings.push({
        risk: `the ID token carries session tags (${SESSION_TAGS_CLAIM}) but the trust policy of ${role} does not allow sts:TagSession: STS refuses the exchange.`,
        fix: 'Allow sts:TagSession in the same statement.',
        example: { ...statement, Action: [...new Set([...list(statement.Action), 'sts:TagSession'])] },
      });
    }
  }
  return findings;
}

/** Findings from what doctor saw: the claims, whether the role admitted them, and AWS_ROLE_CHAIN. */
export function reviewAdmission(claims: TokenClaims, opts: { admitted: boolean; role: string; roleChain: string[] }): TrustFinding[] {
  const findings: TrustFinding[] = [];
  const host = providerHost(claims.iss ?? '');
  if (opts.admitted && claims.ref_protected !== 'true') {
    findings.push({
      risk: `${opts.role} admitted this job although its ${claims.ref_type ?? 'ref'} '${claims.ref ?? '?'}' is not protected: anyone who can push a branch can get these credentials.`,
      fix: `Admit protected refs only in the "${host}:sub" condition (and protect the branches that deploy).`,
      example: stricterCondition(claims),
    });
  }
  if (opts.admitted && claims.pipeline_source === 'merge_request_event') {
    findings.push({
      risk: `${opts.role} admitted a merge request pipeline: if this project runs pipelines for merge requests from forks, the fork's code runs with these credentials.`,
      fix: 'Deploy from protected branches after merge; do not let merge request pipelines assume a role that can write.',
      example: stricterCondition(claims),
    });
  }
  const tags = claims[SESSION_TAGS_CLAIM] as { transitive_tag_keys?: unknown } | undefined;
  if (tags !== undefined && opts.roleChain.length > 0) {
    const chain = [opts.role, ...opts.roleChain];
    findings.push({
      risk: `the ID token carries session tags${Array.isArray(tags.transitive_tag_keys) && tags.transitive_tag_keys.length ? ` (transitive: ${tags.transitive_tag_keys.join(', ')})` : ''} and AWS_ROLE_CHAIN assumes ${opts.roleChain.join(', ')}: tags travel along the chain, so each of those roles must allow sts:TagSession as well as sts:AssumeRole, or the hop is denied.`,
      fix: 'In the trust policy of each role in AWS_ROLE_CHAIN, allow both actions for the role before it.',
      example: opts.roleChain.map((target, i) => ({
        role: target,
        Statement: { Effect: 'Allow', Principal: { AWS: chain[i] }, Action: ['sts:AssumeRole', 'sts:TagSession'] },
      })),
    });
  }
  return findings;
}

function logTrustFindings(findings: TrustFinding[], log: Logger): void {
  for (const f of findings) {
    log.warn(f.risk);
    log.info(`    ${f.fix}`);
    if (f.example) log.info(JSON.stringify(f.example, null, 2).replace(/^/gm, '    '));
  }
}

/** doctor's trust review: every finding with its stricter Condition; a problem when GESTALT_TRUST_POLICY is unusable. */
export function logTrustReview(claims: TokenClaims | undefined, config: Config, admitted: boolean, log: Logger): Problem | undefined {
  if (!claims) {
    log.info('  no ID token claims to review.');
    return undefined;
  }
  const role = config.aws.roleArn ?? 'the role';
  const { statements, problem } = readTrustPolicy(config.aws.trustPolicy, config.job.projectDir);
  if (problem) {
    log.info(`  [FAIL] ${problem.variable}: ${problem.message}`);
    return problem;
  }
  const findings = [...(statements ? reviewTrustPolicy(statements, claims, role) : []), ...reviewAdmission(claims, { admitted, role, roleChain: config.aws.roleChain })];
  logTrustFindings(findings, log);
  if (findings.length === 0) log.info(`  [ ok ] nothing ${statements ? 'in the trust policy or ' : ''}in what ${role} admitted is wider than this project's protected refs`);
  if (!statements) log.info("  (STS does not show a role's trust policy: set GESTALT_TRUST_POLICY to it, as JSON or a file, and doctor reviews its conditions too.)");
  return undefined;
}
