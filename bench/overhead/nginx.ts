// The reference proxy: nginx with upstream keep-alive, one worker, no access log, everything it
// writes kept in a temp dir, run as the current user.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';

export const NGINX_BIN = '/usr/sbin/nginx';

// Requests per keep-alive connection, both sides. nginx closes a connection after 1000 requests by
// default while Node never does; without this nginx alone would pay a reconnect every 1000 requests.
const KEEPALIVE_REQUESTS = 10_000_000;

export function nginxConf(dir: string, listenPort: number, upstreamPort: number): string {
  // Only root switches workers to another user (`nobody` by default); keep the current one.
  const user = process.getuid?.() === 0 ? `user ${userInfo().username};\n` : '';
  return `daemon off;
master_process on;
worker_processes 1;
${user}pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;

events {
  worker_connections 1024;
}

http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests ${KEEPALIVE_REQUESTS};

  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 32;
    keepalive_requests ${KEEPALIVE_REQUESTS};
  }

  server {
    listen 127.0.0.1:${listenPort};
    location / {
      proxy_pass http://bench_upstream;
      # Upstream keep-alive needs HTTP/1.1 and no "Connection: close" from nginx.
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** Writes the config in `dir`; returns the nginx arguments. */
export function prepareNginx(dir: string, listenPort: number, upstreamPort: number): string[] {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConf(dir, listenPort, upstreamPort));
  // -e: the error log before the config is read would otherwise go to /var/log/nginx.
  return ['-p', `${dir}/`, '-c', conf, '-e', join(dir, 'error.log')];
}

/** nginx cannot listen on port 0 and report it: take a free port from the kernel first. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr !== null && typeof addr !== 'string' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
