/**
 * Device names become certificate common names, MQTT usernames and topic levels, file names,
 * RabbitMQ permission patterns and Kubernetes secret keys. Only characters that mean nothing
 * special in any of them are accepted (stricter than the wire protocol's usernames).
 */
const DEVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

export class InvalidDeviceNameError extends Error {
  constructor(name: string, reason: string) {
    super(`invalid device name ${JSON.stringify(name)}: ${reason}`);
    this.name = 'InvalidDeviceNameError';
  }
}

export function assertDeviceName(name: string, reserved: readonly string[] = []): string {
  if (!DEVICE_NAME.test(name)) {
    throw new InvalidDeviceNameError(name, 'use 1-63 letters, digits, "-" or "_", starting with a letter or digit');
  }
  if (reserved.includes(name)) throw new InvalidDeviceNameError(name, 'the name is reserved for a service identity');
  return name;
}
