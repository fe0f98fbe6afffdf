// The classic Node reverse proxy: the http-proxy package with a keep-alive agent upstream.
import http from 'node:http';
import httpProxy from 'http-proxy';
import { announcePort, exitOnSignals, originArg } from '../child-entry.ts';

const proxy = httpProxy.createProxyServer({ target: originArg(), agent: new http.Agent({ keepAlive: true }) });

proxy.on('error', (_err, _req, res) => {
  if (!(res instanceof http.ServerResponse) || res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(502, { 'content-type': 'text/plain', 'content-length': '12' });
  res.end('bad gateway\n');
});

const server = http.createServer((req, res) => proxy.web(req, res));
exitOnSignals();
server.listen(0, '127.0.0.1', () => announcePort(server));
