// Certificates made at test time with openssl: a CA, and leaf certificates it signs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface Pki {
  readonly dir: string;
  readonly caCert: string;       // paths
  readonly caKey: string;
  /** Issues a leaf for `cn` (also the DNS/IP SAN); returns the cert and key paths. */
  issue(name: string, cn: string, opts?: { client?: boolean }): { cert: string; key: string };
  read(file: string): Buffer;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makePki(): Pki {
  const dir = mkdtempSync(path.join(tmpdir(), 'outrider-pki-'));
  const caKey = path.join(dir, 'ca.key');
  const caCert = path.join(dir, 'ca.crt');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', caCert,
    '-days', '2', '-subj', '/CN=outrider-test-ca'], dir);
  let serial = 1;
  return {
    dir,
    caCert,
    caKey,
    issue(name, cn, opts = {}) {
      const key = path.join(dir, `${name}.key`);
      const csr = path.join(dir, `${name}.csr`);
      const cert = path.join(dir, `${name}.crt`);
      const ext = path.join(dir, `${name}.ext`);
      const san = /^[0-9.]+$/.test(cn) ? `IP:${cn}` : `DNS:${cn}`;
      writeFileSync(ext, `subjectAltName=${san}\nextendedKeyUsage=${opts.client === true ? 'clientAuth' : 'serverAuth'}\n`);
      openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`], dir);
      openssl(['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-set_serial', String(serial++), '-days', '2', '-out', cert, '-extfile', ext], dir);
      return { cert, key };
    },
    read: (file) => readFileSync(file),
  };
}
