import { isObject } from '../record/schema.js';

/**
 * The packages that must survive a prune: every package key and sha256 that any deployment record or kept
 * history entry names, whichever environment it belongs to. Documents are read leniently on purpose: a
 * record that fails validation (edited by hand, or from another version) still protects what it names.
 */
export class ReferenceSet {
  private readonly keys = new Set<string>();
  private readonly shas = new Set<string>();

  /** Adds what one record (`functions[]`) or history (`entries[].functions[]`) document names. */
  add(document: unknown): void {
    if (!isObject(document)) return;
    this.addFunctions(document.functions);
    if (Array.isArray(document.entries)) for (const e of document.entries) if (isObject(e)) this.addFunctions(e.functions);
  }

  /**
   * A package is kept when its exact key is named, or when its content address (the sha256 part of
   * `<prefix>/packages/<sha256>/<file>`) is: the same bytes under another file name are the same package.
   */
  holds(key: string): boolean {
    if (this.keys.has(key)) return true;
    const sha = packageSha(key);
    return sha !== undefined && this.shas.has(sha);
  }

  get size(): number {
    return this.keys.size;
  }

  private addFunctions(functions: unknown): void {
    if (!Array.isArray(functions)) return;
    for (const f of functions) {
      if (!isObject(f)) continue;
      if (typeof f.packageKey === 'string' && f.packageKey) {
        this.keys.add(f.packageKey);
        const sha = packageSha(f.packageKey);
        if (sha) this.shas.add(sha);
      }
      if (typeof f.sha256 === 'string' && /^[0-9a-f]{64}$/.test(f.sha256)) this.shas.add(f.sha256);
    }
  }
}

/** The sha256 directory of a package key, or undefined for a key that is not a package. */
export function packageSha(key: string): string | undefined {
  return /\/packages\/([0-9a-f]{64})\/[^/]+$/.exec(key)?.[1];
}
