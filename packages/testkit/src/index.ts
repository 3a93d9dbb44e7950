export { entryScript } from './entry_script.js';
export { freePort } from './free_port.js';
export { createTestCertificates, issueClientCertificate, type CertificateFiles, type TestCertificates } from './test_certificates.js';
export { startMosquitto, stopChild, type MosquittoBroker, type MosquittoOptions } from './mosquitto.js';
export { createTestDatabase, testDatabaseServerUrl, type TestDatabase } from './test_database.js';
export { startServer, ServerStartError, type ServerProcess, type ServerProcessOptions } from './server_process.js';
export { connectV1Device, requestJson, closeV1Device, type V1DeviceOptions } from './v1_device.js';
export { startTcpProxy, type TcpProxy } from './tcp_proxy.js';
export { startPrivatePostgres, type PrivatePostgres, type PrivatePostgresOptions } from './private_postgres.js';
export { startRabbitMq, hasRabbitMq, type RunningRabbitMq, type RabbitMqNodeOptions } from './rabbitmq.js';
export { startRabbitMqCluster, type RabbitMqCluster, type RabbitMqClusterNode } from './rabbitmq_cluster.js';
export {
  V2TestDevice, enrolV2Device, enrolmentBody, preKeyBatch, type V2DeviceOptions, type Forgery, type SentRequest, type V2Response,
  type PreKeyBatch,
} from './v2_device.js';
export { TEST_DEPLOYMENT_ID, writeTestOperator, type TestOperator } from './test_operator.js';
export { launchChromium, hasChromium, chromiumPath } from './chromium.js';
