/**
 * The gRPC port's credentials: plaintext, TLS, or mutual TLS, from files that may be replaced
 * while the service runs. grpc-js installs each new secure context on its HTTP/2 server
 * (`setSecureContext`), so new handshakes use the new certificate and connected cars keep their
 * sessions: a rotation drops no one.
 *
 * The files are read at start (a bad file stops the start, naming the variable), then checked
 * every `reloadMs` and on SIGHUP. A replacement that does not parse, or whose key does not match
 * its certificate, is logged and ignored: the last good pair stays in use, so a half-written file
 * never takes the port down.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { createHash, X509Certificate } from 'node:crypto';
import { ServerCredentials, experimental } from '@grpc/grpc-js';
import { ConfigError, type Logger } from '@greenlane/common';
import type { TlsConfig } from '../config.js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

interface Loaded {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  fingerprint: string;
}

/** What a certificate file holds, for the log: whom it names and until when. */
function describe(cert: Buffer): { subject: string; valid_to: string } {
  const x509 = new X509Certificate(cert);
  return { subject: x509.subject.replace(/\n/g, ', '), valid_to: x509.validTo };
}

export class ReloadingCertificates implements experimental.CertificateProvider {
  private current: Loaded;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly timer: NodeJS.Timeout;
  private readonly onHup = () => this.reload('SIGHUP');
  reloads = 0;

  constructor(
    private readonly cfg: TlsConfig,
    private readonly log: Logger,
    private readonly onReload: () => void = () => {},
  ) {
    const files: Record<string, string | undefined> = {
      INGESTION_TLS_CERT: cfg.certFile,
      INGESTION_TLS_KEY: cfg.keyFile,
      INGESTION_TLS_CLIENT_CA: cfg.clientCaFile,
    };
    this.current = this.read((variable, why) => {
      throw new ConfigError(variable, files[variable] ?? '', why);
    })!;
    log.info({ ...describe(this.current.cert), mutual: cfg.clientCaFile !== undefined }, 'TLS certificate loaded');
    this.timer = setInterval(() => this.reload('file change'), cfg.reloadMs);
    this.timer.unref();
    process.on('SIGHUP', this.onHup);
  }

  get mutual(): boolean {
    return this.cfg.clientCaFile !== undefined;
  }

  /** Reads and checks the files; on a problem calls `fail` with the variable and why (at start it throws), and returns undefined. */
  private read(fail: (variable: string, why: string) => void): Loaded | undefined {
    const file = (variable: string, path: string): Buffer | undefined => {
      try {
        return readFileSync(path);
      } catch (error) {
        fail(variable, `a readable PEM file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
        return undefined;
      }
    };
    const cert = file('INGESTION_TLS_CERT', this.cfg.certFile);
    const key = file('INGESTION_TLS_KEY', this.cfg.keyFile);
    const ca = this.cfg.clientCaFile === undefined ? undefined : file('INGESTION_TLS_CLIENT_CA', this.cfg.clientCaFile);
    if (cert === undefined || key === undefined || (this.cfg.clientCaFile !== undefined && ca === undefined)) return undefined;
    try {
      // Throws when the PEM does not parse or the key is not the certificate's.
      createSecureContext({ cert, key, ...(ca === undefined ? {} : { ca }) });
      new X509Certificate(cert);
      if (ca !== undefined) new X509Certificate(ca);
    } catch (error) {
      fail('INGESTION_TLS_CERT', `a PEM certificate matching INGESTION_TLS_KEY${ca === undefined ? '' : ' and a PEM CA in INGESTION_TLS_CLIENT_CA'} (${(error as Error).message})`);
      return undefined;
    }
    const fingerprint = createHash('sha256').update(cert).update(key).update(ca ?? Buffer.alloc(0)).digest('hex');
    return { cert, key, ca, fingerprint };
  }

  /** Re-reads the files; publishes them when they changed and are good. */
  reload(why: string): boolean {
    let problem: string | undefined;
    const next = this.read((variable, error) => (problem ??= `${variable}: ${error}`));
    if (next === undefined) {
      this.log.error({ why, problem }, 'TLS certificate files not reloaded: keeping the ones in use');
      return false;
    }
    if (next.fingerprint === this.current.fingerprint) return false;
    this.current = next;
    this.reloads++;
    this.onReload();
    this.log.info({ why, ...describe(next.cert) }, 'TLS certificate reloaded: new handshakes use it, connected cars stay connected');
    for (const listener of this.identityListeners) listener({ certificate: next.cert, privateKey: next.key });
    if (next.ca !== undefined) for (const listener of this.caListeners) listener({ caCertificate: next.ca });
    return true;
  }

  // The first delivery is deferred: grpc-js registers its watcher of the credentials only after
  // adding these listeners, and would miss an update delivered at once (the port would then drop
  // every connection as "unloaded credentials").
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    queueMicrotask(() => {
      if (this.caListeners.has(listener) && this.current.ca !== undefined) listener({ caCertificate: this.current.ca });
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.identityListeners.has(listener)) listener({ certificate: this.current.cert, privateKey: this.current.key });
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  close(): void {
    clearInterval(this.timer);
    process.off('SIGHUP', this.onHup);
  }
}

export interface PortCredentials {
  credentials: ServerCredentials;
  certificates: ReloadingCertificates | undefined;
}

/** Plaintext without TLS settings; TLS (and mutual TLS with a client CA) with reloading files. */
export function portCredentials(cfg: TlsConfig | undefined, log: Logger, onReload?: () => void): PortCredentials {
  if (cfg === undefined) return { credentials: ServerCredentials.createInsecure(), certificates: undefined };
  const certificates = new ReloadingCertificates(cfg, log, onReload);
  const credentials = experimental.createCertificateProviderServerCredentials(
    certificates,
    certificates.mutual ? certificates : null,
    certificates.mutual,
  );
  return { credentials, certificates };
}
