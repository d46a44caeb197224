// Bringing an existing API endpoint up to date: one PATCH with exactly what differs, nothing when nothing does,
// and Meta's own additions (users/groups of gestaltSecurity, other plugins) kept.
import { describe, expect, it } from 'vitest';
import type { MetaResource } from '../../src/gestalt/meta/client.js';
import { endpointPatch } from '../../src/gestalt/meta/endpoint.js';

const OWNER = '58b6775d-0000-4000-8000-000000000001';
const endpoint = (properties: Record<string, unknown>): MetaResource => ({
  id: 'e-1',
  name: 'n',
  properties: { implementation_type: 'lambda', implementation_id: 'l-1', resource: '/n', upstream_url: 'http://laser/lambdas/l-1/invokeSync', ...properties },
});

describe('endpointPatch', () => {
  it('changes nothing for an endpoint created before options existed, when none is set', () => {
    expect(endpointPatch(endpoint({ methods: ['GET', 'POST'] }), ['GET', 'POST'], {})).toEqual({ ops: [], changes: [] });
  });

  it('ignores the order of methods, and the users and groups Meta filled in', () => {
    const stored = endpoint({
      methods: ['POST', 'GET'],
      synchronous: true,
      plugins: { rateLimit: { enabled: true, perMinute: 60 }, gestaltSecurity: { enabled: true, users: [OWNER], groups: [] } },
    });
    expect(endpointPatch(stored, ['GET', 'POST'], { synchronous: true, rateLimitPerMinute: 60, gestaltSecurity: true }).ops).toEqual([]);
  });

  it('replaces methods and merges plugins, keeping what Meta and others put there', () => {
    const stored = endpoint({
      methods: ['GET'],
      plugins: { rateLimit: { enabled: true, perMinute: 60 }, gestaltSecurity: { enabled: true, users: [OWNER], groups: ['g'] }, cors: { enabled: true } },
    });
    const { ops, changes } = endpointPatch(stored, ['GET', 'PUT'], { rateLimitPerMinute: 120, gestaltSecurity: true });
    expect(ops).toEqual([
      { op: 'replace', path: '/properties/methods', value: ['GET', 'PUT'] },
      { op: 'replace', path: '/properties/plugins', value: { rateLimit: { enabled: true, perMinute: 120 }, gestaltSecurity: { enabled: true, users: [OWNER], groups: ['g'] }, cors: { enabled: true } } },
    ]);
    expect(changes).toEqual([
      { field: 'endpoint.methods', from: '["GET"]', to: '["GET","PUT"]' },
      { field: 'endpoint.rate_limit_per_minute', from: '60', to: '120' },
    ]);
  });

  it('adds plugins to an endpoint that has none, in the create shapes', () => {
    expect(endpointPatch(endpoint({ methods: ['GET'] }), ['GET'], { rateLimitPerMinute: 5, gestaltSecurity: true }).ops).toEqual([
      { op: 'add', path: '/properties/plugins', value: { rateLimit: { enabled: true, perMinute: 5 }, gestaltSecurity: { users: [], groups: [], enabled: true } } },
    ]);
  });

  it('turns a rate limit and Gestalt security off when the function no longer sets them', () => {
    const stored = endpoint({ methods: ['GET'], plugins: { rateLimit: { enabled: true, perMinute: 60 }, gestaltSecurity: { enabled: true, users: [OWNER], groups: [] } } });
    const { ops, changes } = endpointPatch(stored, ['GET'], {});
    expect(ops).toEqual([{ op: 'replace', path: '/properties/plugins', value: { rateLimit: { enabled: false, perMinute: 60 }, gestaltSecurity: { enabled: false, users: [OWNER], groups: [] } } }]);
    expect(changes).toEqual([
      { field: 'endpoint.rate_limit_per_minute', from: '60', to: '(unset)' },
      { field: 'endpoint.gestalt_security', from: 'true', to: 'false' },
    ]);
  });

  it('treats a disabled rate limit as none', () => {
    expect(endpointPatch(endpoint({ methods: ['GET'], plugins: { rateLimit: { enabled: false, perMinute: -1 } } }), ['GET'], {}).ops).toEqual([]);
  });

  it('sets synchronous and is_http_aware against Meta\'s defaults (synchronous, not HTTP-aware), also from text', () => {
    expect(endpointPatch(endpoint({ methods: ['GET'], synchronous: 'true', is_http_aware: 'false' }), ['GET'], {}).ops).toEqual([]);
    expect(endpointPatch(endpoint({ methods: ['GET'] }), ['GET'], { synchronous: false }).ops).toEqual([{ op: 'add', path: '/properties/synchronous', value: false }]);
    expect(endpointPatch(endpoint({ methods: ['GET'], synchronous: false }), ['GET'], {}).ops).toEqual([{ op: 'replace', path: '/properties/synchronous', value: true }]);
    expect(endpointPatch(endpoint({ methods: ['GET'], is_http_aware: true }), ['GET'], { isHttpAware: true }).ops).toEqual([]);
  });

  it('replaces hosts, and removes them when the function sets none', () => {
    expect(endpointPatch(endpoint({ methods: ['GET'], hosts: ['a.example.com'] }), ['GET'], { hosts: ['b.example.com'] }).ops).toEqual([
      { op: 'replace', path: '/properties/hosts', value: ['b.example.com'] },
    ]);
    expect(endpointPatch(endpoint({ methods: ['GET'], hosts: ['a.example.com'] }), ['GET'], {}).ops).toEqual([{ op: 'remove', path: '/properties/hosts' }]);
    expect(endpointPatch(endpoint({ methods: ['GET'], hosts: [] }), ['GET'], {}).ops).toEqual([]);
  });
});
