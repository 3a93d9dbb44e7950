import { createHash, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { AedesOptions, AuthenticateError, Client } from 'aedes';
import type { Logger } from 'pino';
import { deviceGrants, serverGrants, type TopicGrants } from './broker_access_rules.js';
import { filterCovers } from './topic_filter_coverage.js';

/** The key server's own login to its embedded broker, fresh at every start. */
export interface ServerCredentials {
  username: string;
  password: string;
  /** The server connection's client id: nobody else may use it (and so take over its session). */
  clientId: string;
}

export interface AccessOptions {
  server: ServerCredentials;
  /**
   * Devices present client certificates (checked against the CA by TLS): the certificate's CN is
   * the device name and the client id must equal it. Without them the client id is taken as the
   * device name, which anyone who reaches the port can claim: for loopback demos only.
   */
  clientCertificates: boolean;
  /** Wire protocol v1 enabled: devices may use the v1 topics too. */
  v1: boolean;
}

// aedes' AuthErrorCode is a const enum, which isolated modules cannot import.
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

function refusal(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/** Compares secrets in constant time, whatever their lengths. */
function sameSecret(given: Buffer | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const digest = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * The embedded broker's access control (aedes hooks): who a client is, decided once at CONNECT,
 * and the topics that identity may use (broker_access_rules). A denied subscription is answered
 * with SUBACK 0x87 (not authorized); a denied publish is dropped (PUBACK 0x87 at QoS 1).
 */
export function embeddedBrokerAccess(options: AccessOptions, log: Logger): Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'> {
  const grants = new WeakMap<Client, { who: string; grants: TopicGrants }>();
  const server = serverGrants();

  return {
    authenticate(client, username, password, done) {
      if (username === options.server.username) {
        if (sameSecret(password, options.server.password) && client.id === options.server.clientId) {
          grants.set(client, { who: 'key server', grants: server });
          return done(null, true);
        }
        log.warn({ client: client.id }, 'embedded broker: refused a login as the key server');
        return done(refusal('bad user name or password', BAD_USERNAME_OR_PASSWORD), false);
      }
      if (client.id === options.server.clientId) {
        log.warn({ client: client.id }, "embedded broker: refused a device using the key server's client id");
        return done(refusal('client id reserved for the key server', IDENTIFIER_REJECTED), false);
      }
      let device = client.id;
      if (options.clientCertificates) {
        // MQTT over WebSocket: the TLS socket is the upgrade request's.
        const socket = (client.req?.socket ?? client.conn) as TLSSocket;
        const name: unknown = socket.authorized ? socket.getPeerCertificate().subject?.CN : undefined;
        if (typeof name !== 'string') {
          return done(refusal('a client certificate naming the device is required', NOT_AUTHORIZED), false);
        }
        // Otherwise a device could take over another device's session and its queued deliveries.
        if (client.id !== name) {
          log.warn({ client: client.id, certificate: name }, 'embedded broker: refused a client id that is not its certificate name');
          return done(refusal(`the client id must be the certificate's name ${name}`, IDENTIFIER_REJECTED), false);
        }
        device = name;
      }
      grants.set(client, { who: device, grants: deviceGrants(device, { v1: options.v1 }) });
      done(null, true);
    },

    authorizePublish(client, packet, done) {
      const access = client ? grants.get(client) : undefined;
      if (access?.grants.publish.some((grant) => filterCovers(grant, packet.topic))) return done(null);
      log.debug({ client: client?.id, who: access?.who, topic: packet.topic }, 'embedded broker: publish denied');
      done(new Error(`not authorized to publish to ${packet.topic}`));
    },

    authorizeSubscribe(client, subscription, done) {
      const access = grants.get(client);
      if (access?.grants.subscribe.some((grant) => filterCovers(grant, subscription.topic))) return done(null, subscription);
      log.debug({ client: client.id, who: access?.who, filter: subscription.topic }, 'embedded broker: subscription denied');
      // A null subscription (not an error) makes aedes answer SUBACK 0x87 and keep the connection.
      done(null, null);
    },
  };
}
