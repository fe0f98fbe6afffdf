// The command line (SPEC §1): run, validate, inject; and webhook (automatic injection).
import { Command } from 'commander';
import { formatConfigError, loadConfigFile } from './config/load.ts';
import { ConfigLoadError, Outrider } from './app.ts';
import { injectCommand } from './inject/command.ts';
import { webhookCommand } from './webhook/command.ts';

export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command('outrider')
    .description('Inference-aware sidecar and reverse proxy')
    .showHelpAfterError()
    .exitOverride((err) => process.exit(err.exitCode));

  program.command('run')
    .description('start the proxy, its runtimes and the admin port')
    .requiredOption('-c, --config <file>', 'the policy file (outrider.yaml)')
    .action(async (opts: { config: string }) => run(opts.config));

  program.command('validate')
    .description('check a policy file; print every error as FILE:LINE:COL: path: message')
    .requiredOption('-c, --config <file>', 'the policy file (outrider.yaml)')
    .action(async (opts: { config: string }) => {
      const r = await loadConfigFile(opts.config);
      if (r.ok) {
        process.stdout.write(`${opts.config}: valid (${r.config.routes.length} routes, ${r.config.runtimes.length} runtimes, ${r.config.upstreams.length} upstreams)\n`);
        return;
      }
      for (const e of r.errors) process.stderr.write(`${formatConfigError(e)}\n`);
      process.exitCode = 1;
    });

  program.addCommand(injectCommand());
  program.addCommand(webhookCommand());

  await program.parseAsync(argv, { from: 'user' });
}

async function run(file: string): Promise<void> {
  let app: Outrider;
  try {
    app = await Outrider.start(file);
  } catch (e) {
    if (e instanceof ConfigLoadError) {
      for (const err of e.errors) process.stderr.write(`${formatConfigError(err)}\n`);
    } else {
      process.stderr.write(`outrider: ${(e as Error).message}\n`);
    }
    process.exit(1);
  }
  const { log } = app.plane;
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    app.stop().then(() => process.exit(0), (e: unknown) => {
      log.error({ err: e }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    log.info('SIGHUP: reloading the config');
    void app.reload();
  });
  // A bug must not take down every in-flight request silently: log it, and keep serving.
  process.on('uncaughtException', (e) => log.error({ err: e }, 'uncaught exception'));
  process.on('unhandledRejection', (e) => log.error({ err: e }, 'unhandled rejection'));
}

if (import.meta.main) {
  await main(process.argv.slice(2));
}
