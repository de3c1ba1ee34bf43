import * as grpc from '@grpc/grpc-js';
import { FleetServiceClient } from '@greenlane/common/gen/fleet/fleet';
import { CAPABILITIES_HEADER, COMMANDS_CAPABILITY } from '@greenlane/common/commands';

/**
 * One gRPC channel (one HTTP/2 connection) to the ingestion service. grpc-js shares a subchannel,
 * and so one connection, between every client with equal options; a local subchannel pool and a
 * distinct channel id give each client its own connection, so cars really spread over channels.
 */
export function createFleetClient(target: string, channelIndex: number): FleetServiceClient {
  return new FleetServiceClient(target, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.channel_id': channelIndex,
    // The simulator reconnects itself, with its own backoff and resend.
    'grpc.enable_retries': 0,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 2000,
  });
}

/**
 * The call metadata of every car's stream: its token and, with `commands`, the capability that
 * makes ingestion send it operators' commands (`x-greenlane-capabilities: commands`).
 */
export function tokenMetadata(token: string, options: { commands?: boolean } = {}): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('x-api-token', token);
  if (options.commands === true) metadata.set(CAPABILITIES_HEADER, COMMANDS_CAPABILITY);
  return metadata;
}
