import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Usage {
  /** One line: what the program is for. */
  summary: string;
  /** `npm start -w <folder> -- [flags]` */
  usage: string;
  options: Array<[flag: string, description: string]>;
  environment: Array<[variable: string, description: string]>;
}

export function formatHelp(usage: Usage): string {
  const pad = (rows: Array<[string, string]>) => {
    const width = Math.max(...rows.map(([left]) => left.length));
    return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`).join('\n');
  };
  const parts = [usage.summary, '', `Usage: ${usage.usage}`];
  if (usage.options.length > 0) parts.push('', 'Options:', pad(usage.options));
  if (usage.environment.length > 0) parts.push('', 'Environment (defaults in brackets):', pad(usage.environment));
  return parts.join('\n') + '\n';
}

/**
 * Parses flags; prints help and exits on --help, and exits 2 with the parser's own message on an
 * unknown or malformed flag, so every program answers the same way.
 */
export type Flags = Record<string, string | boolean | undefined>;

export function parseFlags(argv: string[], options: NonNullable<ParseArgsConfig['options']>, usage: Usage): Flags {
  try {
    const parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    const values = parsed.values as Flags;
    if (values.help === true) {
      process.stdout.write(formatHelp(usage));
      process.exit(0);
    }
    return values;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${formatHelp(usage)}`);
    process.exit(2);
  }
}
