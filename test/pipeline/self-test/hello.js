// The function the project pipeline's self-test deploys (LAMBDA_ARTIFACTS in .gitlab-ci.yml's .self-test).
export async function handler() {
  return { statusCode: 200, body: 'gestalt-deploy self-test' };
}
