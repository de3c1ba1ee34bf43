/**
 * `npm start -w liveops-cli -- command CAR-042 emergency-stop ...`: see args.ts for the words,
 * run.ts for what it prints. Resolves to the exit code.
 */
import { colorEnabled } from '../render.js';
import { CommandApi } from './api.js';
import { COMMAND_USAGE, UsageError, parseCommandArgs } from './args.js';
import { EXIT, runCommand, type Terminal } from './run.js';

export async function commandMain(argv: string[], env: Record<string, string | undefined>, term: Terminal, tty: boolean): Promise<number> {
  let request;
  try {
    request = parseCommandArgs(argv, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    term.err(`liveops command: ${error.message}\n\n${COMMAND_USAGE}`);
    return EXIT.usage;
  }
  if (request === 'help') {
    term.out(COMMAND_USAGE);
    return EXIT.succeeded;
  }
  const api = new CommandApi(request.apiUrl, request.token);
  return runCommand(request, api, term, { render: { color: colorEnabled(env, tty), utc: request.utc } });
}
