// The trivial keep-alive upstream: reads the request body and answers RESPONSE_BODY.
// Run as a child process; prints {"port":N} on stdout once bound to 127.0.0.1.
import http from 'node:http';
import { RESPONSE_BODY } from './payload.ts';
import { announcePort, exitOnSignals } from './child-entry.ts';

const HEADERS = { 'content-type': 'application/json', 'content-length': String(RESPONSE_BODY.length) };

const server = http.createServer({
  // Longer than any idle gap between one target's turns, so a proxy's pooled connection is never
  // closed under it mid-bench (the proxy's own idle timeout closes it first).
  keepAliveTimeout: 600_000,
  noDelay: true,
}, (req, res) => {
  req.on('end', () => {
    res.writeHead(200, HEADERS);
    res.end(RESPONSE_BODY);
  });
  req.resume();
});

exitOnSignals();
server.listen(0, '127.0.0.1', () => announcePort(server));
