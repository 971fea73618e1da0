import { Command } from 'commander';
import { addServeOptions, serve } from './serve.ts';
import { addHashPasswordCommand } from '../auth/hash-password-command.ts';
import { addClientCommand } from './client.ts';
import { addTailCommand } from './tail.ts';
import { addSendCommand } from './send.ts';
import { addStatusCommand } from './status.ts';

const program = new Command();
program
  .name('hookah')
  .description('HTTP event engine: webhook dispatcher, WebSub hub and topic streams')
  .enablePositionalOptions()
  .showHelpAfterError();

addServeOptions(program).action((flags) => serve(flags));
addServeOptions(program.command('serve').description('start the server (the default command)')).action((flags) => serve(flags));
addClientCommand(program);
addTailCommand(program);
addSendCommand(program);
addStatusCommand(program);
addHashPasswordCommand(program);

await program.parseAsync(process.argv);
