// gestalt-deploy.yml: what a valid file turns into, and that every mistake points at file:line.
import { describe, expect, it } from 'vitest';
import { expand, parseFunctionsFile } from '../../src/config/functions-file.js';

const F = 'gestalt-deploy.yml';
const parse = (text: string, env: Record<string, string | undefined> = {}) => parseFunctionsFile(text, F, env);
const lines = (...l: string[]) => `${l.join('\n')}\n`;

describe('parseFunctionsFile: valid files', () => {
  it('turns each entry into a source with defaults merged under its own settings', () => {
    const text = lines(
      'defaults:',
      '  runtime: nodejs',
      '  memory: 256',
      '  methods: [get]',
      'functions:',
      '  - artifact: dist/api.zip',
      '    name: acme-api',
      '    handler: index.handler',
      '    memory: 1024',
      '    cpus: 0.5',
      '    timeout: 60',
      '    public: false',
      '    methods: [GET, post, Delete]',
      '    env:',
      '      STAGE: prod',
      '      URL: https://$HOST/${PATH_PART}',
      '      PRICE: $$5',
      '      COUNT: 3',
      '  - artifact:',
      '      - dist/worker-*.zip',
      '      - dist/cron.zip',
      '    runtime: python3',
    );
    const { sources, problems } = parse(text, { HOST: 'api.example.com', PATH_PART: 'v1' });
    expect(problems).toEqual([]);
    expect(sources).toEqual([
      {
        source: `${F}:6`,
        patterns: ['dist/api.zip'],
        overrides: {
          runtime: 'nodejs',
          memory: 1024,
          methods: ['GET', 'POST', 'DELETE'],
          handler: 'index.handler',
          cpus: 0.5,
          timeout: 60,
          public: false,
          env: { STAGE: 'prod', URL: 'https://api.example.com/v1', PRICE: '$5', COUNT: '3' },
          name: 'acme-api',
        },
      },
      {
        source: `${F}:19`,
        patterns: ['dist/worker-*.zip', 'dist/cron.zip'],
        overrides: { runtime: 'python3', memory: 256, methods: ['GET'] },
      },
    ]);
  });

  it('accepts a file without defaults, and trims names and strings', () => {
    const { sources, problems } = parse(lines('functions:', '  - artifact: a.zip', '    name: "  spaced  "', '    runtime: " go "'));
    expect(problems).toEqual([]);
    expect(sources).toEqual([{ source: `${F}:2`, patterns: ['a.zip'], overrides: { runtime: 'go', name: 'spaced' } }]);
  });
});

describe('parseFunctionsFile: primary', () => {
  it('marks the function whose URL is the environment URL; a non-boolean is a problem; defaults cannot have it', () => {
    const { sources, problems } = parse(lines('defaults:', '  primary: true', 'functions:', '  - artifact: a.zip', '    primary: true', '  - artifact: b.zip', '    primary: yes please', '  - artifact: c.zip'));
    expect(sources.map((s) => s.overrides.primary)).toEqual([true, undefined, undefined]);
    expect(problems).toEqual([
      { variable: `${F}:2`, message: expect.stringMatching(/^unknown setting 'primary'; use runtime,/) },
      { variable: `${F}:7`, message: 'primary: must be true or false.' },
    ]);
  });
});

describe('parseFunctionsFile: every problem carries file:line', () => {
  it.each([
    ['empty file', '', `${F}:1`, 'expected a mapping with a `functions:` list.'],
    ['a list at the top', lines('- artifact: a.zip'), `${F}:1`, 'expected a mapping with a `functions:` list.'],
    ['no functions key', lines('defaults:', '  runtime: go'), `${F}:1`, 'functions: must be a non-empty list; each entry needs at least artifact:.'],
    ['an empty functions list', lines('x: 1', 'functions: []'), `${F}:2`, 'functions: must be a non-empty list'],
  ])('%s', (_label, text, where, message) => {
    const { sources, problems } = parse(text);
    expect(sources).toEqual([]);
    expect(problems.map((p) => p.variable)).toContain(where);
    expect(problems.find((p) => p.variable === where)?.message).toContain(message);
  });

  it('reports unknown top-level keys and settings at their own line', () => {
    const { problems } = parse(lines('functions:', '  - artifact: a.zip', '    memroy: 512', 'extra: 1'));
    expect(problems).toEqual([
      { variable: `${F}:4`, message: "unknown key 'extra'; use functions: (and optionally defaults:)." },
      { variable: `${F}:3`, message: "unknown setting 'memroy'; use artifact, name, primary, verify, runtime, handler, memory, cpus, timeout, public, methods, env, secrets, schedule, headers, pre_warm, isolate, endpoint." },
    ]);
  });

  it('does not allow artifact: or name: under defaults', () => {
    const { problems } = parse(lines('defaults:', '  artifact: x.zip', 'functions:', '  - artifact: a.zip'));
    expect(problems).toEqual([{ variable: `${F}:2`, message: "unknown setting 'artifact'; use runtime, handler, memory, cpus, timeout, public, methods, env, secrets, schedule, headers, pre_warm, isolate, endpoint." }]);
  });

  it('reports each bad value at its line, all in one pass', () => {
    const text = lines(
      'functions:',
      '  - artifact: a.zip', // 2
      '    memory: 0', // 3
      '    timeout: 1.5', // 4
      '    cpus: lots', // 5
      '    public: "yes"', // 6
      '    methods: [GET, FETCH]', // 7
      '    runtime: ""', // 8
      '    handler: [x]', // 9
      '    name: ""', // 10
      '  - runtime: go', // 11: no artifact
      '  - just-a-string', // 12
      '  - artifact: [a.zip, 3]', // 13
      '    env:', // 14
      '      9BAD: x', // 15
      '      EMPTY:', // 16
      '      MISSING: $NOPE', // 17
      '  - artifact: b.zip', // 18
      '    env: [A]', // 19
    );
    const { problems } = parse(text);
    expect(problems).toEqual([
      { variable: `${F}:3`, message: 'memory: must be a positive whole number of MB.' },
      { variable: `${F}:4`, message: 'timeout: must be a positive whole number of seconds.' },
      { variable: `${F}:5`, message: 'cpus: must be a positive number, e.g. 0.1.' },
      { variable: `${F}:6`, message: 'public: must be true or false.' },
      { variable: `${F}:7`, message: 'methods: must be a list of HTTP methods from GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS.' },
      { variable: `${F}:8`, message: 'runtime: must be a non-empty string.' },
      { variable: `${F}:9`, message: 'handler: must be a non-empty string.' },
      { variable: `${F}:10`, message: 'name: must be a non-empty string.' },
      { variable: `${F}:11`, message: 'artifact: is required: a path or glob relative to the project dir (or a list of them).' },
      { variable: `${F}:12`, message: 'each function must be a mapping with artifact: and optional settings.' },
      { variable: `${F}:15`, message: "env: '9BAD' is not a valid variable name." },
      { variable: `${F}:16`, message: 'env: EMPTY must be a string value.' },
      { variable: `${F}:17`, message: 'env: MISSING references $NOPE, which is not set in the job; define it or remove the reference.' },
      { variable: `${F}:13`, message: 'artifact: is required: a path or glob relative to the project dir (or a list of them).' },
      { variable: `${F}:19`, message: 'env: must be a mapping of NAME: value strings.' },
    ]);
  });

  it('reports YAML syntax errors and nothing else', () => {
    const { sources, problems } = parse(lines('functions:', '  - artifact: a.zip', '    runtime: "unterminated'));
    expect(sources).toEqual([]);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toMatch(/^YAML syntax: /);
    expect(problems[0]!.variable).toMatch(new RegExp(`^${F}:\\d+$`));
  });

  // Regression: with `prettyErrors: false` the yaml library leaves err.linePos undefined,
  // so every syntax error is reported at line 1. The line is available as lines.linePos(err.pos[0]).line.
  it('reports a YAML syntax error at the line where it is', () => {
    const { problems } = parse(lines('functions:', '  - artifact: a.zip', '', '  - artifact: b.zip', '    runtime: x', '    runtime: y'));
    expect(problems).toEqual([{ variable: `${F}:6`, message: 'YAML syntax: Map keys must be unique' }]);
  });
});

describe('expand', () => {
  const env = { A: 'alpha', B_2: 'beta', EMPTY: '' };
  const run = (value: string) => {
    const missing: string[] = [];
    return { out: expand(value, env, (n) => missing.push(n)), missing };
  };

  it('replaces $VAR and ${VAR}', () => {
    expect(run('$A-${B_2}/x')).toEqual({ out: 'alpha-beta/x', missing: [] });
    expect(run('${A}${A}')).toEqual({ out: 'alphaalpha', missing: [] });
  });

  it('takes the longest name for bare $VAR', () => {
    expect(run('$A_suffix')).toEqual({ out: '', missing: ['A_suffix'] });
    expect(run('${A}_suffix')).toEqual({ out: 'alpha_suffix', missing: [] });
  });

  it('turns $$ into a literal $, which then does not expand', () => {
    expect(run('$$A costs $$5')).toEqual({ out: '$A costs $5', missing: [] });
  });

  it('reports each missing variable and replaces it with nothing', () => {
    expect(run('x${NOPE}y$ALSO_NOT')).toEqual({ out: 'xy', missing: ['NOPE', 'ALSO_NOT'] });
  });

  it('treats a variable set to the empty string as set', () => {
    expect(run('[$EMPTY]')).toEqual({ out: '[]', missing: [] });
  });

  it('leaves text that is not a variable reference alone', () => {
    expect(run('cost: $5, ${not closed, $-x, $')).toEqual({ out: 'cost: $5, ${not closed, $-x, $', missing: [] });
  });
});
