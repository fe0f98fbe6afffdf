// The fault injector as its own process, so that it sits in the path like a real misbehaving
// network hop: `node chaos/injector/main.ts --target http://127.0.0.1:PORT [--port N] [--control-port N]`.
// Prints `{"msg":"listening","port":P,"control":C}` once both ports are bound.
import { parseArgs } from 'node:util';
import { exitWithParent } from '../parent-watch.ts';
import { createControlServer, listenControl } from './control.ts';
import { FaultProxy } from './proxy.ts';

function fail(message: string): never {
  process.stderr.write(`chaos injector: ${message}\n`);
  process.exit(2);
}

let values: { target?: string; port?: string; 'control-port'?: string };
try {
  ({ values } = parseArgs({ options: { target: { type: 'string' }, port: { type: 'string' }, 'control-port': { type: 'string' } } }));
} catch (e) {
  fail((e as Error).message);
}
const target = values.target ?? fail('--target http://HOST:PORT is required');
let origin: URL;
try {
  origin = new URL(target);
} catch {
  fail(`--target is not a URL: ${target}`);
}
if (origin.protocol !== 'http:' || origin.pathname !== '/') fail(`--target must be an http origin without a path, got ${target}`);
const portOf = (v: string | undefined, name: string): number => {
  const n = Number(v ?? 0);
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`${name} must be a port number`);
  return n;
};

exitWithParent();
const proxy = new FaultProxy(origin.origin);
const control = createControlServer(proxy);
const [port, controlPort] = await Promise.all([proxy.listen(portOf(values.port, '--port')), listenControl(control, portOf(values['control-port'], '--control-port'))]);
process.stdout.write(`${JSON.stringify({ msg: 'listening', port, control: controlPort, target: origin.origin, pid: process.pid })}\n`);

const stop = (): void => {
  control.close();
  control.closeAllConnections();
  void proxy.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
