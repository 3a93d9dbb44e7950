import { encodeBase64url } from '@x3dh-iot/protocol';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { connectMqtt } from '@x3dh-iot/transport';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { serveOperatorSocket } from './admin/operator_socket.js';
import type { ServerConfig } from './config.js';
import { devicePageRoute } from './ops/device_page.js';
import { startOperatorConsole } from './console/console_service.js';
import { startHttpEndpoints, type HttpEndpoints, type HttpRoute } from './ops/http_endpoints.js';
import { ServerMetrics } from './ops/metrics.js';
import { watchConnections } from './ops/liveness.js';
import { StartupWait } from './ops/startup_wait.js';
import { StorageCondition } from './ops/storage_condition.js';
import { BatchExecutor } from './processing/batch_executor.js';
import { RequestDispatcher } from './processing/request_dispatcher.js';
import type { Database } from './storage/database.js';
import { migrate } from './storage/migrate.js';
import { EmbeddedDatabase } from './storage/embedded_database.js';
import { PostgresDatabase } from './storage/postgres_database.js';
import { databaseTls } from './storage/database_tls.js';
import { checkBrokerUrl } from './plain_text_policy.js';
import { countOneTimePreKeys } from './storage/queries/directory_queries.js';
import { purgeInBatches } from './storage/batched_purge.js';
import { purgeProcessedReplies } from './storage/queries/processed_request_queries.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './transport/embedded_broker.js';
import type { ServerCredentials } from './transport/embedded_broker_access.js';
import { AmqpRequestChannel } from './transport/amqp_request_channel.js';
import { MqttRequestChannel } from './transport/mqtt_request_channel.js';
import { keepServerSession } from './transport/server_session.js';
import type { RequestChannel } from './transport/request_channel.js';
import { V1Protocol } from './v1/v1_protocol.js';
import type { RequestProtocol } from './processing/request_protocol.js';
import { MAX_V2_PAYLOAD_BYTES, V2Protocol } from './v2/v2_protocol.js';
import { purgeV2 } from './v2/v2_purge.js';
import { targetBucket } from './v2/v2_settings.js';
import { requestIdRetentionSeconds } from './v2/request_authentication.js';
import { loadOperatorIdentity } from './v2/operator_key_file.js';
import { recordDeployment } from './storage/queries/deployment_queries.js';

export interface KeyServer {
  /** The broker served: the external one, or the embedded broker's own URL. */
  readonly brokerUrl: string;
  readonly httpPort: number;
  /** The operator key's public half and the deployment id devices must be provisioned with. */
  readonly operatorPublicKey: Uint8Array;
  readonly deploymentId: string;
  /** Stops taking requests, answers those in flight, then closes everything. */
  close(): Promise<void>;
}

/** How long /readyz reports a failed write of the store (disk full...) after the last one. */
const STORAGE_FAILURE_HOLD_MS = 30_000;

const readPem = (file: string | undefined) => (file === undefined ? undefined : fs.readFileSync(file));

function openDatabase(config: ServerConfig, log: Logger): Promise<Database> {
  if (config.databaseUrl !== undefined) {
    const ssl = databaseTls(config.databaseUrl,
      { caFile: config.databaseCaFile, certFile: config.databaseCertFile, keyFile: config.databaseKeyFile }, config.allowInsecureDatabase);
    return Promise.resolve(new PostgresDatabase(
      { url: config.databaseUrl, ssl, poolSize: config.dbPoolSize, connectTimeoutMs: config.dbConnectTimeoutMs }, log));
  }
  return EmbeddedDatabase.open(config.dataDir, { poolSize: config.dbPoolSize, connectTimeoutMs: config.dbConnectTimeoutMs }, log);
}

/** `--amqp-url`: one URL, or the nodes of a cluster separated by commas. */
const amqpUrls = (list: string): string[] => list.split(',').map((url) => url.trim()).filter((url) => url !== '');

/** Cleanups of what has started so far, run newest first when start-up fails or the server closes. */
class Stack {
  private readonly steps: (() => Promise<void>)[] = [];
  push(step: () => Promise<void>): void {
    this.steps.push(step);
  }
  async unwind(log: Logger): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      await step().catch((error: Error) => log.warn({ err: error }, 'error while closing'));
    }
  }
}

/**
 * Connects to the broker requests arrive through: RabbitMQ over AMQP with --amqp-url, otherwise an
 * MQTT 5 broker (the embedded one without --broker-url). Returns the URL served, without password.
 */
async function openRequestChannel(
  config: ServerConfig, filters: readonly string[], stack: Stack, startup: StartupWait, log: Logger,
): Promise<{ channel: RequestChannel; brokerUrl: string; webSocketUrl?: string | undefined }> {
  if (config.amqpUrl !== undefined) {
    const options = {
      urls: amqpUrls(config.amqpUrl),
      ca: readPem(config.amqpCaFile),
      cert: readPem(config.amqpCertFile),
      key: readPem(config.amqpKeyFile),
      queue: config.amqpQueue,
      prefetch: config.amqpPrefetch,
    };
    const channel = await startup.until('AMQP broker', () => AmqpRequestChannel.connect(options, filters, log));
    stack.push(() => channel.close());
    const shown = options.urls.map((url) => {
      const parsed = new URL(url);
      parsed.password = '';
      return parsed.href;
    }).join(',');
    log.info({ broker: shown, queue: config.amqpQueue }, 'connected to AMQP broker');
    return { channel, brokerUrl: shown };
  }

  let brokerUrl = config.brokerUrl;
  let shareGroup: string | undefined = config.shareGroup || undefined;
  let ca = readPem(config.brokerCaFile);
  let login: ServerCredentials | undefined;
  let webSocketUrl: string | undefined;
  if (brokerUrl === undefined) {
    const cert = readPem(config.embeddedBrokerCertFile);
    const key = readPem(config.embeddedBrokerKeyFile);
    const clientCa = readPem(config.embeddedBrokerCaFile);
    if (clientCa && !(cert && key)) throw new Error('--embedded-broker-ca needs --embedded-broker-cert and --embedded-broker-key');
    if (clientCa && config.brokerCertFile === undefined) {
      throw new Error('with --embedded-broker-ca every client of the embedded broker presents a certificate, this ' +
        'server too: give it one from that CA with --broker-cert and --broker-key');
    }
    // A login made afresh at every start, known only to this process: no device can act as the server.
    login = { username: `x3dh-server-${randomBytes(8).toString('hex')}`, password: randomBytes(32).toString('base64url'), clientId: config.clientId };
    const broker: EmbeddedBroker = await startEmbeddedBroker({
      host: config.embeddedBrokerHost,
      port: config.embeddedBrokerPort,
      webSocketPort: config.embeddedBrokerWebSocketPort,
      tls: cert && key ? { cert, key, ca: clientCa } : undefined,
      server: login,
      allowV1: config.enableV1,
      // Twice the server's per-device limit: a device waiting as its rate_limited answers say never meets it.
      publishLimit: { perSecond: 2 * config.deviceRequestRate, burst: 2 * config.deviceRequestBurst },
    }, log);
    stack.push(() => broker.close());
    brokerUrl = broker.url;
    webSocketUrl = broker.webSocketUrl;
    // The embedded broker has no shared subscriptions, and this server is its only subscriber.
    shareGroup = undefined;
    // The embedded broker's certificate is checked against --broker-ca, else the CA of the client
    // certificates (one PKI issues both), else taken as its own CA (self-signed).
    ca ??= clientCa ?? cert;
  }

  const client: MqttClient = await startup.until('broker', () => connectMqtt({
    url: brokerUrl,
    clientId: config.clientId,
    ca,
    cert: readPem(config.brokerCertFile),
    key: readPem(config.brokerKeyFile),
    username: login?.username,
    password: login?.password,
    clean: true,
    sessionExpirySeconds: config.sessionExpirySeconds,
  }));
  if (config.sessionExpirySeconds > 0) {
    // Nobody else can log in as the server to its embedded broker, and it knows only this id.
    keepServerSession(client, { defaultClientId: config.defaultClientId && config.brokerUrl !== undefined }, log);
  }
  client.on('error', (error) => log.warn({ err: error }, 'broker connection error'));
  client.on('offline', () => log.warn('broker connection lost; reconnecting'));
  client.on('connect', (connack) => log.info(
    { broker: brokerUrl, clientId: client.options.clientId, shareGroup, sessionPresent: connack.sessionPresent }, 'connected to broker'));
  stack.push(() => client.endAsync());
  return { channel: new MqttRequestChannel(client, filters, shareGroup, log), brokerUrl, webSocketUrl };
}

/**
 * Starts the key server: store (migrated), broker connection (AMQP, MQTT or the embedded broker), HTTP
 * endpoints, then subscribes to requests. Resolves once it serves requests.
 */
export async function startKeyServer(config: ServerConfig, log: Logger): Promise<KeyServer> {
  // Before anything connects: a refused URL sends nothing.
  if (config.brokerUrl !== undefined) checkBrokerUrl(config.brokerUrl, config.allowInsecureBroker, '--broker-url');
  if (config.amqpUrl !== undefined) {
    for (const url of amqpUrls(config.amqpUrl)) checkBrokerUrl(url, config.allowInsecureBroker, '--amqp-url');
  }
  // Before anything connects too: a bad key file or deployment id is a setting to fix.
  const { operator, created, keyFile } = loadOperatorIdentity({ keyFile: config.operatorKeyFile, deploymentId: config.deploymentId, dataDir: config.dataDir });
  const stack = new Stack();
  const startup = new StartupWait({ boundMs: config.startupWaitSeconds * 1000 }, log);
  try {
    const database = await openDatabase(config, log);
    stack.push(() => database.close());

    // The HTTP endpoints answer from the start, so that an orchestrator probing /healthz lets the
    // server wait for its database and broker (/readyz says what it waits for).
    const storageCondition = new StorageCondition(STORAGE_FAILURE_HOLD_MS);
    const metrics = new ServerMetrics(() => database.transaction(countOneTimePreKeys));
    const state: {
      starting: string | null; channel?: RequestChannel; liveness?: ReturnType<typeof watchConnections>; webSocketUrl?: string | undefined;
      console?: HttpRoute;
    } = { starting: 'waiting for the database' };
    const databaseReachable = () => database.transaction((sql) => sql.query('SELECT 1')).then(() => true, () => false);
    const notReady = async () => {
      if (state.starting !== null || state.channel === undefined) return `starting: ${state.starting ?? 'subscribing'}`;
      if (!state.channel.connected) return 'no broker connection';
      if (!await databaseReachable()) return 'database unreachable';
      const storage = storageCondition.problem();
      return storage === undefined ? null : `storage cannot write (${storage})`;
    };
    // The console needs the store and the broker: until they are there, it says so.
    const consoleWhenStarted: HttpRoute = {
      prefix: '/console',
      handle: async (request, response) => {
        if (state.console !== undefined) return state.console.handle(request, response);
        response.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5' })
          .end(`the console opens once the server has started (${state.starting ?? 'subscribing'})\n`);
      },
    };
    const http: HttpEndpoints = await startHttpEndpoints(config.httpHost, config.httpPort, metrics.registry, notReady,
      () => state.liveness?.problem() ?? null,
      [consoleWhenStarted, devicePageRoute({
        brokerUrl: () => config.devicePageBrokerUrl ?? state.webSocketUrl,
        provisioning: { deploymentId: operator.deploymentId, operatorPublicKey: encodeBase64url(operator.publicKey) },
      })]);
    stack.push(() => http.close());
    log.info({ httpPort: http.port }, 'HTTP endpoints listening (/healthz, /readyz, /metrics)');

    const applied = await startup.until('database', () => migrate(database));
    log.info({ store: database.kind, migrationsApplied: applied }, 'store ready');
    if (config.databaseUrl === undefined) {
      // Operator commands cannot open the embedded store while this process holds it: they come here.
      const operatorSocket = await serveOperatorSocket(config.dataDir, database, log).catch((error: Error) => {
        log.warn({ err: error }, 'no operator socket: operator commands on the embedded store must wait until the server stops');
        return null;
      });
      if (operatorSocket !== null) stack.push(() => operatorSocket.close());
    }

    await database.transaction((sql) => recordDeployment(sql, operator.deploymentId, operator.publicKey));
    log.info({ operatorPublicKey: encodeBase64url(operator.publicKey), deploymentId: operator.deploymentId, operatorKeyFile: keyFile },
      created ? 'made a new operator key: provision devices with this operator public key and deployment id' : 'operator key loaded: devices verify identity certificates with this operator public key and deployment id');
    if (config.operatorKeyFile === undefined && config.databaseUrl !== undefined) {
      log.warn({ operatorKeyFile: keyFile }, 'no --operator-key: using the key in the data directory; every replica must use the same key and deployment id (copy it, or give --operator-key and --deployment-id)');
    }
    const protocols: RequestProtocol[] = [new V2Protocol({
      ...config, maxPayloadBytes: Math.min(config.maxPayloadBytes, MAX_V2_PAYLOAD_BYTES),
    }, operator)];
    if (config.enableV1) protocols.push(new V1Protocol(config.maxPayloadBytes, targetBucket(config)));
    if (config.openEnrolment) log.warn('open enrolment is on: any device may enrol a free name without an enrolment token');
    // Without --enable-v1 the v1 topics are not even subscribed: a v1 request reaches no server.
    state.starting = 'waiting for the broker';
    const { channel, brokerUrl, webSocketUrl } = await openRequestChannel(config, protocols.flatMap((p) => p.requestFilters), stack, startup, log);
    state.channel = channel;
    state.webSocketUrl = webSocketUrl;

    const executor = new BatchExecutor(database, {
      maxBatchSize: config.batchSize,
      maxConcurrentBatches: Math.min(config.batchConcurrency, database.maxConcurrency),
      onBatch: (size) => metrics.observeBatch(size),
      onStorageFailure: (error) => storageCondition.failed(error.message),
    }, log);
    const operatorConsole = startOperatorConsole(config, database, metrics.registry, async () => ({
      broker: channel.connected, database: await databaseReachable(), notReady: await notReady(),
    }), log);
    stack.push(() => operatorConsole.stop());
    state.console = operatorConsole.route;
    const dispatcher = new RequestDispatcher(protocols, executor, channel, {
      perDevice: { perSecond: config.deviceRequestRate, burst: config.deviceRequestBurst },
      deviceQueue: config.deviceRequestQueue,
    }, metrics, log, operatorConsole.served);

    const liveness = watchConnections(() => channel.connected, databaseReachable, config.livenessTimeoutSeconds * 1000);
    state.liveness = liveness;
    stack.push(async () => liveness.stop());

    let purging = false;
    const purge = setInterval(() => {
      // A run that outlasts the interval (a large backlog, purged a batch at a time) is not joined by another.
      if (purging) return;
      purging = true;
      // Recorded replies outlive the v2 request ids that point at them.
      const processed = purgeInBatches(database, (sql, limit) => purgeProcessedReplies(sql,
        Math.max(config.dedupeRetentionSeconds, requestIdRetentionSeconds(config.clockSkewSeconds)), limit))
        .catch((error: Error) => log.warn({ err: error }, 'purge of processed requests failed'));
      const v2 = purgeV2(database, config.clockSkewSeconds, (config.clock ?? Date.now)(), config.messageRetentionSeconds)
        .catch((error: Error) => log.warn({ err: error }, 'purge of expired v2 messages and request ids failed'));
      void Promise.all([processed, v2]).finally(() => { purging = false; });
    }, Math.min(60_000, config.dedupeRetentionSeconds * 1000 / 2));
    purge.unref();
    stack.push(async () => clearInterval(purge));

    await channel.start((request) => dispatcher.handle(request));
    state.starting = null;
    stack.push(async () => {
      await channel.stopReceiving();
      const timeout = new Promise<'timeout'>((resolve) => setTimeout(resolve, config.shutdownTimeoutMs, 'timeout').unref());
      if (await Promise.race([dispatcher.drain(), timeout]) === 'timeout') {
        log.warn('shutdown timeout: closing with requests still in flight');
      }
    });
    log.info({
      broker: brokerUrl, clientId: config.clientId, httpPort: http.port,
      operatorPublicKey: encodeBase64url(operator.publicKey), deploymentId: operator.deploymentId,
    }, 'key server ready');

    return {
      brokerUrl,
      httpPort: http.port,
      operatorPublicKey: operator.publicKey,
      deploymentId: operator.deploymentId,
      close: () => stack.unwind(log),
    };
  } catch (error) {
    await stack.unwind(log);
    throw error;
  }
}
