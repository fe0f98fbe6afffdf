// `outrider webhook`: serves the mutating admission webhook that injects labelled pods.
import { Command, InvalidArgumentError } from 'commander';
import { addInjectFlags, injectOptionsFrom } from '../inject/command.ts';
import type { InjectFlags } from '../inject/command.ts';
import { checkOptions } from '../inject/options.ts';
import { createLogger } from '../telemetry/log.ts';
import { startWebhook } from './server.ts';

interface WebhookFlags extends InjectFlags {
  readonly tlsCert: string;
  readonly tlsKey: string;
  readonly port: number;
  readonly host: string;
  readonly certPoll: number;
}

export function webhookCommand(): Command {
  const cmd = new Command('webhook')
    .description('serve a Kubernetes mutating admission webhook (HTTPS, POST /mutate) that injects pods labelled or annotated outrider.io/inject: "true"')
    .requiredOption('--tls-cert <file>', 'the serving certificate (PEM); re-read when the file changes')
    .requiredOption('--tls-key <file>', 'its private key (PEM)')
    .option('--port <port>', 'the HTTPS port (0: any free port)', listenPort, 8443)
    .option('--host <address>', 'the address to bind', '0.0.0.0')
    .option('--cert-poll <ms>', 'how often to check the certificate files for changes, in ms', milliseconds, 5000)
    .showHelpAfterError();
  return addInjectFlags(cmd).action(async (flags: WebhookFlags) => {
    const inject = injectOptionsFrom(flags);
    const bad = checkOptions(inject);
    if (bad.length > 0) {
      for (const m of bad) process.stderr.write(`outrider webhook: ${m}\n`);
      process.exit(1);
    }
    const log = createLogger('info');
    const webhook = await startWebhook({ certFile: flags.tlsCert, keyFile: flags.tlsKey, host: flags.host, port: flags.port, inject, log, certPollMs: flags.certPoll })
      .catch((e: unknown) => {
        process.stderr.write(`outrider webhook: ${(e as Error).message}\n`);
        return process.exit(1);
      });
    log.info({ address: webhook.address, path: '/mutate', image: inject.image, nativeSidecar: inject.nativeSidecar }, 'webhook listening');
    process.on('SIGHUP', () => webhook.reloadCertificates());
    const stop = (signal: string) => {
      log.info({ signal }, 'webhook shutting down');
      webhook.close().then(() => process.exit(0), () => process.exit(1));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

function milliseconds(v: string): number {
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || n < 10) throw new InvalidArgumentError('expected a whole number of milliseconds, at least 10.');
  return n;
}

function listenPort(v: string): number {
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || n > 65535) throw new InvalidArgumentError('expected a number from 0 to 65535.');
  return n;
}
