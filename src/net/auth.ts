// Gestalt API key pairs travel as HTTP Basic auth, in both modes; the redactor also needs the encoded form.

export function basicAuthValue(key: string, secret: string): string {
  return `Basic ${Buffer.from(`${key}:${secret}`).toString('base64')}`;
}
