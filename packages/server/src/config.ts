import os from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { LogFormat } from './ops/logger.js';
import type { V2Settings } from './v2/v2_settings.js';

/** The v2 limits are the same fields as V2Settings; maxPayloadBytes bounds v1 too. */
export interface ServerConfig extends V2Settings {
  /** External broker (`mqtts://host:8883`); undefined starts the embedded broker. */
  brokerUrl: string | undefined;
  brokerCaFile: string | undefined;
  brokerCertFile: string | undefined;
  brokerKeyFile: string | undefined;
  clientId: string;
  /** No --client-id was given: the client id is this host's default, which another replica on the host may hold. */
  defaultClientId: boolean;
  /** RabbitMQ AMQP 0.9.1 URL: requests are consumed from a quorum queue instead of MQTT subscriptions. */
  amqpUrl: string | undefined;
  amqpCaFile: string | undefined;
  amqpCertFile: string | undefined;
  amqpKeyFile: string | undefined;
  amqpQueue: string;
  amqpPrefetch: number;
  /** MQTT 5 shared-subscription group of the replicas; "" subscribes without one. */
  shareGroup: string;
  sessionExpirySeconds: number;
  embeddedBrokerHost: string;
  embeddedBrokerPort: number;
  /** Port of the embedded broker's MQTT-over-WebSocket listener (for browsers); none when undefined. */
  embeddedBrokerWebSocketPort: number | undefined;
  embeddedBrokerCertFile: string | undefined;
  embeddedBrokerKeyFile: string | undefined;
  /** PEM CA: the embedded broker then requires client certificates from it, naming the devices. */
  embeddedBrokerCaFile: string | undefined;
  /** PostgreSQL URL; undefined uses the embedded PostgreSQL in dataDir. */
  databaseUrl: string | undefined;
  /** PEM CA the database's certificate must chain to (TLS with verification), and an optional client certificate. */
  databaseCaFile: string | undefined;
  databaseCertFile: string | undefined;
  databaseKeyFile: string | undefined;
  /** Plain text (or TLS without verification) to a database beyond loopback. */
  allowInsecureDatabase: boolean;
  /** Plain-text mqtt:// or amqp:// to a broker beyond loopback. */
  allowInsecureBroker: boolean;
  dataDir: string;
  dbPoolSize: number;
  dbConnectTimeoutMs: number;
  batchSize: number;
  batchConcurrency: number;
  /** Per-device request limits (v2), before any check of a request: requests per second, at once, and waiting. */
  deviceRequestRate: number;
  deviceRequestBurst: number;
  deviceRequestQueue: number;
  maxPayloadBytes: number;
  dedupeRetentionSeconds: number;
  httpHost: string;
  httpPort: number;
  /** Broker URL the browser device page (/device) proposes; the embedded broker's WebSocket listener by default. */
  devicePageBrokerUrl: string | undefined;
  logLevel: string;
  logFormat: LogFormat;
  shutdownTimeoutMs: number;
  /** Serve wire protocol v1 too (its topics are not even subscribed otherwise). */
  enableV1: boolean;
  /** How long start-up waits, in all, for a database or broker that is not reachable yet. */
  startupWaitSeconds: number;
  /** /healthz fails once the broker or database connection has been down this long. */
  livenessTimeoutSeconds: number;
  /** Host names the operator console (/console on the HTTP port) answers under besides loopback names. */
  consoleHosts: string[];
  /** The console is reached over HTTPS (a TLS proxy in front): Secure session cookie, https origin. */
  consoleHttps: boolean;
  /** Signed prekeys this many days old or older are flagged in the console. */
  consoleSignedPreKeyAlertDays: number;
  /** The operator's X25519 private key file (x3dh-ops operator init); undefined: the one kept in dataDir, made on first start. */
  operatorKeyFile: string | undefined;
  /** The deployment id signed into requests and certificates; undefined: the one kept in dataDir (with the key made there). */
  deploymentId: string | undefined;
}

function integer(min: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new InvalidArgumentError(`must be an integer >= ${min}`);
    return value;
  };
}

const option = (flags: string, description: string, env: string) => new Option(flags, description).env(env);

/** yes/no, true/false, on/off, 1/0: an environment variable set to "false" must not switch a flag on. */
function yesNo(text: string | boolean): boolean {
  if (typeof text === 'boolean') return text;
  const value = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new InvalidArgumentError('must be yes or no (true/false, on/off, 1/0)');
}

const switchOption = (flags: string, description: string, env: string) =>
  option(`${flags} [yes|no]`, description, env).argParser(yesNo).preset(true);

/** Exit codes of the server, as the device CLI has them: scripts and orchestrators can tell why it stopped. */
export const SERVER_EXIT = { OK: 0, UNEXPECTED: 1, USAGE: 2, UNREACHABLE: 5 } as const;

export function serverCommand(): Command {
  return new Command('x3dh-server')
    .exitOverride()
    .addHelpText('after', '\nExit codes: 0 stopped by SIGTERM or SIGINT, 1 unexpected failure, 2 bad flag or setting, 5 the database or broker cannot be reached at start (within --startup-wait).')
    .description('X3DH key server: directory and mailbox for IoT devices over MQTT 5, wire protocol v2 (signed ' +
      'requests, docs/protocol-v2.md) and, with --enable-v1, the original firmware\'s wire protocol v1. ' +
      'Without --broker-url it starts an embedded MQTT broker; without --database-url it keeps its data in ' +
      'its own embedded PostgreSQL under --data-dir. Every flag can also be set by the environment variable shown. ' +
      'Operator commands on the same store: x3dh-server token --help, x3dh-server device --help, x3dh-server console-token --help.')
    .addOption(option('--broker-url <url>', 'MQTT 5 broker to serve, mqtts://host:port (TLS 1.3) or mqtt://host:port; default: start the embedded broker', 'X3DH_BROKER_URL'))
    .addOption(option('--broker-ca <file>', 'PEM CA certificate the broker certificate must chain to (default: system CAs)', 'X3DH_BROKER_CA'))
    .addOption(option('--broker-cert <file>', 'PEM client certificate for the broker (optional)', 'X3DH_BROKER_CERT'))
    .addOption(option('--broker-key <file>', 'PEM key of the client certificate', 'X3DH_BROKER_KEY'))
    .addOption(switchOption('--allow-insecure-broker', 'allow plain-text mqtt:// and amqp:// to a broker beyond loopback (refused by default: devices\' traffic and the server\'s login would cross the network readable)', 'X3DH_ALLOW_INSECURE_BROKER').default(false))
    .addOption(option('--amqp-url <url>', 'RabbitMQ (several nodes of a cluster: URLs separated by commas, tried in turn at every (re)connection) to serve over AMQP 0.9.1 instead of MQTT, amqps://host:5671/vhost (TLS 1.3; without user:password@ the --amqp-cert logs in by its CN) or amqp://user:password@host:5672/vhost: the replicas consume one quorum queue bound to amq.topic (RabbitMQ has no MQTT shared subscriptions)', 'X3DH_AMQP_URL'))
    .addOption(option('--amqp-ca <file>', 'PEM CA certificate the AMQP broker certificate must chain to (default: system CAs)', 'X3DH_AMQP_CA'))
    .addOption(option('--amqp-cert <file>', 'PEM client certificate for the AMQP broker (optional)', 'X3DH_AMQP_CERT'))
    .addOption(option('--amqp-key <file>', 'PEM key of --amqp-cert', 'X3DH_AMQP_KEY'))
    .addOption(option('--amqp-queue <name>', 'durable quorum queue of requests, shared by the replicas', 'X3DH_AMQP_QUEUE').default('x3dh-server.requests'))
    .addOption(option('--amqp-prefetch <n>', 'unacknowledged requests per replica (acknowledged after their commit)', 'X3DH_AMQP_PREFETCH').argParser(integer(1)).default(64))
    .addOption(option('--client-id <id>', 'MQTT client id, distinct per replica and the same at every start, so that a restarted replica takes its session and the requests queued in it back (default: x3dh-server-<host>; a second process on the host that finds it taken switches to x3dh-server-<host>-<random>)', 'X3DH_CLIENT_ID'))
    .addOption(option('--share-group <name>', 'shared-subscription group of the replicas; "" for none', 'X3DH_SHARE_GROUP').default('x3dh-server'))
    .addOption(option('--session-expiry <seconds>', 'MQTT session expiry: the broker keeps the session, and queues the requests for it, for so long after a lost connection, so that requests sent during a cut are served after the reconnect; 0 ends the session with the connection', 'X3DH_SESSION_EXPIRY').argParser(integer(0)).default(300))
    .addOption(option('--embedded-broker-host <host>', 'address the embedded broker listens on', 'X3DH_EMBEDDED_BROKER_HOST').default('127.0.0.1'))
    .addOption(option('--embedded-broker-port <port>', 'port of the embedded broker (0: any free port)', 'X3DH_EMBEDDED_BROKER_PORT').argParser(integer(0)).default(1884))
    .addOption(option('--embedded-broker-ws-port <port>', 'port of the embedded broker\'s MQTT-over-WebSocket listener, for browser devices (same address, TLS and client certificates as the MQTT listener; 0: any free port); default: none', 'X3DH_EMBEDDED_BROKER_WS_PORT').argParser(integer(0)).conflicts(['brokerUrl', 'amqpUrl']))
    .addOption(option('--embedded-broker-cert <file>', 'PEM certificate: the embedded broker then accepts TLS 1.3 only', 'X3DH_EMBEDDED_BROKER_CERT'))
    .addOption(option('--embedded-broker-key <file>', 'PEM key of --embedded-broker-cert', 'X3DH_EMBEDDED_BROKER_KEY'))
    .addOption(option('--embedded-broker-ca <file>', 'PEM CA certificate: with --embedded-broker-cert, every client must present a certificate from this CA whose CN is its device name and its client id (the server then needs --broker-cert from it too); without it, the client id names the device (loopback only)', 'X3DH_EMBEDDED_BROKER_CA'))
    .addOption(option('--database-url <url>', 'PostgreSQL URL; several hosts (postgresql://user@a:5432,b:5432/db?target_session_attrs=read-write) are tried in turn, keeping the first that takes writes, and again when it fails; default: embedded PostgreSQL in --data-dir', 'X3DH_DATABASE_URL'))
    .addOption(option('--database-ca <file>', 'PEM CA certificate the database server\'s certificate must chain to, its name matching the URL\'s host (TLS with verification; or sslmode=verify-full&sslrootcert=<file> in the URL)', 'X3DH_DATABASE_CA'))
    .addOption(option('--database-cert <file>', 'PEM client certificate for the database (optional, with --database-ca)', 'X3DH_DATABASE_CERT'))
    .addOption(option('--database-key <file>', 'PEM key of --database-cert', 'X3DH_DATABASE_KEY'))
    .addOption(switchOption('--allow-insecure-database', 'allow a database beyond loopback without TLS certificate verification (refused by default)', 'X3DH_ALLOW_INSECURE_DATABASE').default(false))
    .addOption(option('--data-dir <dir>', 'data directory of the embedded store', 'X3DH_DATA_DIR').default('.x3dh/data'))
    .addOption(option('--db-pool-size <n>', 'PostgreSQL connections', 'X3DH_DB_POOL_SIZE').argParser(integer(1)).default(8))
    .addOption(option('--db-connect-timeout <ms>', 'wait for a database connection before answering "unavailable"', 'X3DH_DB_CONNECT_TIMEOUT').argParser(integer(1)).default(2000))
    .addOption(option('--batch-size <n>', 'most requests committed per transaction', 'X3DH_BATCH_SIZE').argParser(integer(1)).default(64))
    .addOption(option('--batch-concurrency <n>', 'most transactions in flight', 'X3DH_BATCH_CONCURRENCY').argParser(integer(1)).default(2))
    .addOption(option('--device-request-rate <n>', 'v2: requests per second one device may send on average, counted in each replica\'s memory before any check of the request; more are refused rate_limited', 'X3DH_DEVICE_REQUEST_RATE').argParser(integer(1)).default(20))
    .addOption(option('--device-request-burst <n>', 'v2: requests one device may send at once after a quiet time', 'X3DH_DEVICE_REQUEST_BURST').argParser(integer(1)).default(50))
    .addOption(option('--device-request-queue <n>', 'most requests of one device waiting for a database transaction at once (devices are served in turn); more are refused rate_limited', 'X3DH_DEVICE_REQUEST_QUEUE').argParser(integer(1)).default(64))
    .addOption(option('--max-payload <bytes>', 'largest request payload accepted', 'X3DH_MAX_PAYLOAD').argParser(integer(1)).default(64 * 1024))
    .addOption(option('--dedupe-retention <seconds>', 'how long processed requests are remembered to answer redeliveries', 'X3DH_DEDUPE_RETENTION').argParser(integer(1)).default(3600))
    .addOption(option('--startup-wait <seconds>', 'at start, wait so long in all for a database or broker that is not reachable yet (refused, starting up), retrying with growing delays, before exiting with code 5; a refused login or certificate exits at once; 0: no wait', 'X3DH_STARTUP_WAIT').argParser(integer(0)).default(300))
    .addOption(option('--liveness-timeout <seconds>', '/healthz fails (503) once the broker or database connection has been down so long: the orchestrator then restarts a server whose connection does not recover by itself', 'X3DH_LIVENESS_TIMEOUT').argParser(integer(1)).default(60))
    .addOption(option('--http-host <host>', 'address of the /healthz, /readyz and /metrics endpoints', 'X3DH_HTTP_HOST').default('127.0.0.1'))
    .addOption(option('--http-port <port>', 'port of the HTTP endpoints (0: any free port)', 'X3DH_HTTP_PORT').argParser(integer(0)).default(9464))
    .addOption(option('--device-page-broker-url <url>', 'MQTT-over-WebSocket URL the browser device page (/device on the HTTP port) proposes, wss://host:port/path (default: the embedded broker\'s --embedded-broker-ws-port listener)', 'X3DH_DEVICE_PAGE_BROKER_URL'))
    .addOption(option('--log-level <level>', 'least severe entries logged', 'X3DH_LOG_LEVEL')
      .choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'))
    .addOption(option('--log-format <format>', 'json (one object per line) or pretty (readable lines); default: pretty on a terminal, else json', 'X3DH_LOG_FORMAT').choices(['json', 'pretty']))
    .addOption(option('--shutdown-timeout <ms>', 'on SIGTERM, longest wait for in-flight requests', 'X3DH_SHUTDOWN_TIMEOUT').argParser(integer(0)).default(10_000))
    .addOption(switchOption('--enable-v1', 'also serve wire protocol v1 (unauthenticated, for unmodified firmware); off: v1 topics are not subscribed', 'X3DH_ENABLE_V1').default(false))
    .addOption(switchOption('--open-enrolment', 'v2 devices may enrol without an enrolment token: anyone who reaches the broker can then enrol as many devices as they like (default: off, on every store)', 'X3DH_OPEN_ENROLMENT').default(false))
    .addOption(new Option('--no-open-enrolment', 'enrolment needs a token from `x3dh-server token issue` (same as --open-enrolment no; env: X3DH_OPEN_ENROLMENT)'))
    .addOption(option('--clock-skew <seconds>', 'v2: largest difference between a request\'s time and the server clock; request ids are kept three times as long (a margin for replicas whose clocks differ)', 'X3DH_CLOCK_SKEW').argParser(integer(1)).default(300))
    .addOption(option('--fetch-burst <n>', 'v2: bundle fetches per (requester, target) allowed at once', 'X3DH_FETCH_BURST').argParser(integer(1)).default(5))
    .addOption(option('--fetch-interval <seconds>', 'v2: one more bundle fetch per (requester, target) allowed every so many seconds', 'X3DH_FETCH_INTERVAL').argParser(integer(1)).default(600))
    .addOption(option('--target-fetch-burst <n>', 'one-time prekeys handed out per target at once, whoever asks (v1 and v2); beyond, bundles go out without one', 'X3DH_TARGET_FETCH_BURST').argParser(integer(1)).default(20))
    .addOption(option('--target-fetch-interval <seconds>', 'one more one-time prekey per target handed out every so many seconds', 'X3DH_TARGET_FETCH_INTERVAL').argParser(integer(1)).default(60))
    .addOption(option('--prekey-cap <n>', 'v2: most one-time prekeys in stock per device', 'X3DH_PREKEY_CAP').argParser(integer(1)).default(200))
    .addOption(option('--prekey-low-threshold <n>', 'v2: a bundle fetch leaving fewer one-time prekeys pushes prekeys_low to the device', 'X3DH_PREKEY_LOW_THRESHOLD').argParser(integer(0)).default(10))
    .addOption(option('--mailbox-max-messages <n>', 'v2: most messages waiting per recipient', 'X3DH_MAILBOX_MAX_MESSAGES').argParser(integer(1)).default(1000))
    .addOption(option('--mailbox-max-bytes <bytes>', 'v2: most envelope bytes waiting per recipient', 'X3DH_MAILBOX_MAX_BYTES').argParser(integer(1)).default(4 * 1024 * 1024))
    .addOption(option('--mailbox-max-per-sender <n>', 'v2: most messages waiting per recipient from one sender it has written to', 'X3DH_MAILBOX_MAX_PER_SENDER').argParser(integer(1)).default(250))
    .addOption(option('--mailbox-max-per-new-sender <n>', 'v2: most messages waiting per recipient from one sender it has never written to', 'X3DH_MAILBOX_MAX_PER_NEW_SENDER').argParser(integer(1)).default(20))
    .addOption(option('--mailbox-max-from-new-senders <n>', 'v2: most messages waiting per recipient from all senders it has never written to together', 'X3DH_MAILBOX_MAX_FROM_NEW_SENDERS').argParser(integer(1)).default(250))
    .addOption(option('--send-burst <n>', 'v2: messages per (sender, recipient) allowed at once', 'X3DH_SEND_BURST').argParser(integer(1)).default(100))
    .addOption(option('--send-interval <seconds>', 'v2: one more message per (sender, recipient) allowed every so many seconds', 'X3DH_SEND_INTERVAL').argParser(integer(1)).default(1))
    .addOption(option('--operator-key <file>', 'v2: the operator\'s private key file from `x3dh-ops operator init`, which signs the identity certificates devices verify (needs --deployment-id; default: operator.key in --data-dir, made on first start)', 'X3DH_OPERATOR_KEY'))
    .addOption(option('--deployment-id <id>', 'v2: this deployment\'s id, signed into every request and certificate (1 to 64 of A-Z a-z 0-9 . _ -; default: deployment-id in --data-dir, made on first start)', 'X3DH_DEPLOYMENT_ID'))
    .addOption(option('--message-retention <seconds>', 'v2: how long an unacknowledged message waits before it is deleted', 'X3DH_MESSAGE_RETENTION').argParser(integer(1)).default(14 * 24 * 3600))
    .addOption(option('--console-hosts <names>', 'operator console (/console on the HTTP port, login: x3dh-server console-token): comma-separated host names it answers under besides localhost, 127.0.0.1 and [::1], for when it is reached by another name (requests under other Host headers are refused: DNS rebinding)', 'X3DH_CONSOLE_HOSTS')
      .argParser(hostNames).default([]))
    .addOption(switchOption('--console-https', 'the console is reached over HTTPS through a TLS proxy: its session cookie is Secure and requests must come from the https origin', 'X3DH_CONSOLE_HTTPS').default(false))
    .addOption(option('--console-signed-prekey-alert-days <days>', 'the console flags signed prekeys this many days old', 'X3DH_CONSOLE_SIGNED_PREKEY_ALERT_DAYS').argParser(integer(1)).default(30));
}

function hostNames(text: string): string[] {
  const names = text.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '');
  for (const name of names) if (!/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)$/.test(name)) throw new InvalidArgumentError(`${name} is not a host name`);
  return names;
}

/** Reads the configuration from command-line flags (argv without node and script) and the environment. */
export function parseServerConfig(argv: readonly string[]): ServerConfig {
  const o = serverCommand().parse(argv as string[], { from: 'user' }).opts();
  return {
    brokerUrl: o.brokerUrl,
    brokerCaFile: o.brokerCa,
    brokerCertFile: o.brokerCert,
    brokerKeyFile: o.brokerKey,
    amqpUrl: o.amqpUrl,
    amqpCaFile: o.amqpCa,
    amqpCertFile: o.amqpCert,
    amqpKeyFile: o.amqpKey,
    amqpQueue: o.amqpQueue,
    amqpPrefetch: o.amqpPrefetch,
    clientId: o.clientId ?? `x3dh-server-${os.hostname()}`,
    defaultClientId: o.clientId === undefined,
    shareGroup: o.shareGroup,
    sessionExpirySeconds: o.sessionExpiry,
    embeddedBrokerHost: o.embeddedBrokerHost,
    embeddedBrokerPort: o.embeddedBrokerPort,
    embeddedBrokerWebSocketPort: o.embeddedBrokerWsPort,
    embeddedBrokerCertFile: o.embeddedBrokerCert,
    embeddedBrokerKeyFile: o.embeddedBrokerKey,
    embeddedBrokerCaFile: o.embeddedBrokerCa,
    databaseUrl: o.databaseUrl,
    databaseCaFile: o.databaseCa,
    databaseCertFile: o.databaseCert,
    databaseKeyFile: o.databaseKey,
    allowInsecureDatabase: o.allowInsecureDatabase,
    allowInsecureBroker: o.allowInsecureBroker,
    dataDir: o.dataDir,
    dbPoolSize: o.dbPoolSize,
    dbConnectTimeoutMs: o.dbConnectTimeout,
    batchSize: o.batchSize,
    batchConcurrency: o.batchConcurrency,
    deviceRequestRate: o.deviceRequestRate,
    deviceRequestBurst: o.deviceRequestBurst,
    deviceRequestQueue: o.deviceRequestQueue,
    maxPayloadBytes: o.maxPayload,
    dedupeRetentionSeconds: o.dedupeRetention,
    httpHost: o.httpHost,
    httpPort: o.httpPort,
    devicePageBrokerUrl: o.devicePageBrokerUrl,
    logLevel: o.logLevel,
    logFormat: (o.logFormat as LogFormat | undefined) ?? (process.stdout.isTTY ? 'pretty' : 'json'),
    shutdownTimeoutMs: o.shutdownTimeout,
    enableV1: o.enableV1,
    startupWaitSeconds: o.startupWait,
    livenessTimeoutSeconds: o.livenessTimeout,
    openEnrolment: o.openEnrolment,
    clockSkewSeconds: o.clockSkew,
    fetchBurst: o.fetchBurst,
    fetchIntervalSeconds: o.fetchInterval,
    targetFetchBurst: o.targetFetchBurst,
    targetFetchIntervalSeconds: o.targetFetchInterval,
    preKeyCap: o.prekeyCap,
    preKeyLowThreshold: o.prekeyLowThreshold,
    mailboxMaxMessages: o.mailboxMaxMessages,
    mailboxMaxBytes: o.mailboxMaxBytes,
    mailboxMaxPerSender: o.mailboxMaxPerSender,
    mailboxMaxPerNewSender: o.mailboxMaxPerNewSender,
    mailboxMaxFromNewSenders: o.mailboxMaxFromNewSenders,
    sendBurst: o.sendBurst,
    sendIntervalSeconds: o.sendInterval,
    messageRetentionSeconds: o.messageRetention,
    consoleHosts: o.consoleHosts,
    consoleHttps: o.consoleHttps,
    consoleSignedPreKeyAlertDays: o.consoleSignedPrekeyAlertDays,
    operatorKeyFile: o.operatorKey,
    deploymentId: o.deploymentId,
  };
}
