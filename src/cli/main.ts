import { Command } from 'commander';
import { addServeOptions, serve } from './serve.ts';

const program = new Command();
program
  .name('hookah')
  .description('HTTP event engine: webhook dispatcher, WebSub hub and topic streams')
  .showHelpAfterError();

addServeOptions(program).action((flags) => serve(flags));
addServeOptions(program.command('serve').description('start the server (the default command)')).action((flags) => serve(flags));

await program.parseAsync(process.argv);
