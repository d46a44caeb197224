/**
 * GESTALT_PRUNE_ENVIRONMENTS patterns, matched against whole environment names. `*` matches any run of
 * characters including `/`, as GitLab's own environment-scope wildcards do (`review/*` matches
 * `review/feature/login`); `?` matches one character; everything else is literal.
 */
export function environmentMatcher(patterns: string[]): (environment: string) => boolean {
  const res = patterns.map(globToRegExp);
  return (environment) => res.some((re) => re.test(environment));
}

export function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (const ch of pattern) {
    if (ch === '*') source += '.*';
    else if (ch === '?') source += '.';
    else source += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}
