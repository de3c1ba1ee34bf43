import * as grpc from '@grpc/grpc-js';
import { FleetServiceClient } from '@greenlane/common/gen/fleet/fleet';
import { callMetadata } from './credentials.js';
import { channelCredentials, serverNameOptions, type ChannelTls } from './tls.js';

/**
 * One gRPC channel (one HTTP/2 connection) to the ingestion service. grpc-js shares a subchannel,
 * and so one connection, between every client with equal options; a local subchannel pool and a
 * distinct channel id give each client its own connection, so cars really spread over channels
 * (and, with --cert-dir, no car's stream rides on another car's certificate).
 */
export function createFleetClient(target: string, channelIndex: number, tls?: ChannelTls): FleetServiceClient {
  return new FleetServiceClient(target, channelCredentials(tls), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.channel_id': channelIndex,
    // The simulator reconnects itself, with its own backoff and resend.
    'grpc.enable_retries': 0,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 2000,
    ...serverNameOptions(tls),
  });
}

/**
 * The call metadata of every car's stream: its token and, with `commands`, the capability that
 * makes ingestion send it operators' commands (`x-greenlane-capabilities: commands`).
 */
export function tokenMetadata(token: string, options: { commands?: boolean } = {}): grpc.Metadata {
  return callMetadata({ apiToken: token, commands: options.commands === true });
}
