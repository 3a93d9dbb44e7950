/** `ws://` and `wss://` broker URLs: MQTT over WebSocket (RFC 6455, subprotocol `mqtt`). */
export function isWebSocketUrl(url: string): boolean {
  return /^wss?:\/\//i.test(url);
}
