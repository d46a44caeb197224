import { escapeControl } from './printable.js';
import { redactor } from './redact.js';

// GitLab renders these markers as collapsible sections; elsewhere plain headings read better.
const ESC = '\x1b[0K';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
  readonly debugEnabled: boolean;
  section<T>(id: string, title: string, body: () => Promise<T>): Promise<T>;
}

export interface LoggerOptions {
  debug: boolean;
  gitlab: boolean;
  write?: (text: string) => void;
  collapsed?: boolean;
}

export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  // Backstop for text that reached a message unescaped: only line breaks and tabs stay as they are.
  const line = (text: string) => write(`${escapeControl(redactor.redact(text), '\n\t')}\n`);
  const now = () => Math.floor(Date.now() / 1000);
  return {
    debugEnabled: options.debug,
    info: (m) => line(m),
    warn: (m) => line(`WARNING: ${m}`),
    error: (m) => line(`ERROR: ${m}`),
    debug: (m) => {
      if (options.debug) line(`[debug] ${m}`);
    },
    async section(id, title, body) {
      const name = `gestalt_${id}`;
      if (options.gitlab) {
        const flag = options.collapsed === false || options.debug ? '' : '[collapsed=true]';
        write(`${ESC}section_start:${now()}:${name}${flag}\r${ESC}${escapeControl(redactor.redact(title))}\n`);
      } else {
        line(`── ${title}`);
      }
      try {
        return await body();
      } finally {
        if (options.gitlab) write(`${ESC}section_end:${now()}:${name}\r${ESC}\n`);
      }
    },
  };
}
