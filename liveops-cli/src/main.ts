/**
 * GreenLane live-ops CLI.
 *   npm start -w liveops-cli -- [flags]                      the live tail (tail-main.ts)
 *   npm start -w liveops-cli -- command CAR-042 emergency-stop   send a command, wait for its outcome (command/)
 *   npm start -w liveops-cli -- --help | command --help
 */
const [first, ...rest] = process.argv.slice(2);

if (first === 'command') {
  const { commandMain } = await import('./command/main.js');
  const term = { out: (text: string) => process.stdout.write(text), err: (text: string) => process.stderr.write(text) };
  try {
    process.exitCode = await commandMain(rest, process.env, term, process.stdout.isTTY === true);
  } catch (error) {
    process.stderr.write(`liveops command: ${String((error as Error).stack ?? error)}\n`);
    process.exitCode = 1;
  }
} else {
  await import('./tail-main.js');
}
