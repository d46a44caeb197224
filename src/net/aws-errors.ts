// How AWS SDK errors identify themselves, for every module that talks to AWS (credentials and storage alike).

export interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

export function awsErrorName(err: unknown): string {
  const e = err as SdkErrorShape;
  return e?.name ?? e?.code ?? 'Error';
}

export function awsStatus(err: unknown): number | undefined {
  return (err as SdkErrorShape)?.$metadata?.httpStatusCode;
}
