/**
 * TLS for the cars' channels: the files of a ClientTlsConfig read into what grpc-js takes, per car
 * with --cert-dir (each car its own connection, since the server reads a car's identity from the
 * client certificate of its connection).
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { carCertFiles, type ClientTlsConfig } from './security-options.js';

/** What a channel needs: the CA to trust, an optional client certificate, an optional server name. */
export interface ChannelTls {
  ca: Buffer;
  cert?: { cert: Buffer; key: Buffer; certFile: string };
  serverName?: string;
}

/** The files read for one car (with --cert-dir, its own certificate; else the shared one, or none). */
export function channelTls(config: ClientTlsConfig, carId?: string): ChannelTls {
  const files = config.certDir !== undefined && carId !== undefined ? carCertFiles(config.certDir, carId) : config.cert;
  return {
    ca: readFileSync(config.caFile),
    ...(files ? { cert: { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile), certFile: files.certFile } } : {}),
    ...(config.serverName !== undefined ? { serverName: config.serverName } : {}),
  };
}

export function channelCredentials(tls: ChannelTls | undefined): grpc.ChannelCredentials {
  if (tls === undefined) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca, tls.cert?.key ?? null, tls.cert?.cert ?? null);
}

/** Channel options for the server name: checked in the server's certificate and sent as SNI. */
export function serverNameOptions(tls: ChannelTls | undefined): grpc.ChannelOptions {
  if (tls?.serverName === undefined) return {};
  return { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName };
}

/**
 * Cars per connection: with --cert-dir each car has its own (the server's idea of who a car is
 * comes from its connection's certificate); otherwise the cars share the channels asked for.
 */
export function perCarChannels(config: ClientTlsConfig | undefined): boolean {
  return config?.certDir !== undefined;
}

/** A one-line account of the TLS settings, for logs and error messages. */
export function describeTls(config: ClientTlsConfig | undefined): string {
  if (config === undefined) return 'plaintext';
  const client = config.certDir !== undefined ? `, client certificates from --cert-dir ${config.certDir}` : config.cert ? `, client certificate ${config.cert.certFile}` : '';
  return `TLS trusting --tls-ca ${config.caFile}${config.serverName ? ` for ${config.serverName}` : ''}${client}`;
}
