import { wireV1, wireV2 } from '@x3dh-iot/protocol';

/**
 * The topics each client of the embedded broker may publish to and subscribe to: the rules of
 * docs/protocol-v2.md section 2, the same as the ones packages/ops generates for Mosquitto and
 * RabbitMQ (packages/ops/src/brokers/topic_rules.ts).
 */
export interface TopicGrants {
  /** Filters of the topics the client may publish to. */
  publish: readonly string[];
  /** Filters a subscription must stay within. */
  subscribe: readonly string[];
}

/** v1 request topics, as the original firmware publishes them (wire_v1 V1_TOPICS). */
const V1_REQUEST_FILTERS = ['x3dh/req/#', 'x3dh/register/#', 'x3dh/msg/#'] as const;

/**
 * Device `device` publishes its own requests and reads its own responses and pushes. A client
 * whose identity is no valid device name (a v1 client id such as `esp32-a1b2`, or `#`) gets no v2
 * topics, since its name would not be a single literal topic level. v1 has one response topic
 * shared by every v1 device, so its grants exist only while the operator enables v1.
 */
export function deviceGrants(device: string, options: { v1: boolean }): TopicGrants {
  const v2 = wireV2.isDeviceName(device);
  return {
    publish: [
      ...(v2 ? [`${wireV2.V2_TOPIC_PREFIX}/req/${device}/#`] : []),
      ...(options.v1 ? V1_REQUEST_FILTERS : []),
    ],
    subscribe: [
      ...(v2 ? [wireV2.responseTopic(device), wireV2.pushTopic(device)] : []),
      ...(options.v1 ? [wireV1.V1_TOPICS.responseFilter] : []),
    ],
  };
}

/**
 * The key server reads every request and answers or pushes to every device, v1 included whatever
 * the v1 switch: while v1 is off no device can publish a v1 request, so those grants open nothing.
 */
export function serverGrants(): TopicGrants {
  return {
    publish: [`${wireV2.V2_TOPIC_PREFIX}/resp/#`, `${wireV2.V2_TOPIC_PREFIX}/push/#`, wireV1.V1_TOPICS.responseFilter],
    subscribe: [wireV2.REQUEST_FILTER, ...V1_REQUEST_FILTERS],
  };
}
