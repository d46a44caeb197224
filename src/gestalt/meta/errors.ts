import { RemoteError } from '../../errors.js';
import { NetworkError, ResponseTooLarge } from '../../net/http.js';
import { MetaError } from './client.js';

/** Meta's answers as one sentence: the call, what went wrong, what to change. */
export function metaFailure(what: string, err: unknown, org: string): Error {
  if (err instanceof ResponseTooLarge) return new RemoteError(`Gestalt Meta failed to ${what}: ${err.message}`, { cause: err });
  if (err instanceof RemoteError) return err;
  if (err instanceof NetworkError) return new RemoteError(`Could not reach Gestalt Meta to ${what}: ${err.message}; check GESTALT_META_URL and that the runner can reach it.`, { cause: err });
  if (!(err instanceof MetaError)) return err instanceof Error ? err : new Error(String(err));
  const m = err.metaMessage;
  switch (err.status) {
    case 401:
      return new RemoteError(`Gestalt Meta refused the credentials to ${what} (HTTP 401): check GF_API_KEY/GF_API_SECRET or GESTALT_TOKEN, and that GESTALT_ORG '${org}' exists.`, { cause: err });
    case 403:
      return new RemoteError(`Gestalt Meta did not permit ${what} (HTTP 403: ${m}); grant the API key's account read entitlements in org '${org}'.`, { cause: err });
    case 409:
      // Meta answers authorization/policy failures on writes with 409.
      return new RemoteError(`Gestalt Meta did not permit ${what} (HTTP 409: ${m}); grant the API key's account the create/update/delete entitlements for lambdas and API endpoints in that environment, or lift the policy.`, { cause: err });
    case 422:
    case 400:
      return new RemoteError(`Gestalt Meta rejected the request to ${what} (HTTP ${err.status}: ${m}).`, { cause: err });
    default:
      return new RemoteError(`Gestalt Meta failed to ${what} (HTTP ${err.status}${err.status >= 500 ? ' after retries' : ''}: ${m}).`, { cause: err });
  }
}

/** The provider id names nothing Meta knows in this org. */
export function providerNotFound(providerId: string, org: string, metaMessage: string): RemoteError {
  return new RemoteError(`GESTALT_LAMBDA_PROVIDER_ID ${providerId} is not a Lambda provider in org '${org}' (Meta: ${metaMessage}); use the id of a Lambda provider (GET /${org}/providers?type=Lambda).`);
}
