/**
 * Device names become certificate common names, MQTT usernames and topic levels, file names and
 * RabbitMQ permission patterns: the alphabet of docs/protocol-v2.md, minus the names `.` and `..`.
 */
const DEVICE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export class InvalidDeviceNameError extends Error {
  constructor(name: string, reason: string) {
    super(`invalid device name ${JSON.stringify(name)}: ${reason}`);
    this.name = 'InvalidDeviceNameError';
  }
}

export function assertDeviceName(name: string, reserved: readonly string[] = []): string {
  if (!DEVICE_NAME.test(name) || name === '.' || name === '..') {
    throw new InvalidDeviceNameError(name, 'use 1-64 letters, digits, ".", "-" or "_"');
  }
  if (reserved.includes(name)) throw new InvalidDeviceNameError(name, 'the name is reserved for a service identity');
  return name;
}
