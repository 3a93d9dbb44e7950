import { decodeBase64url, wireV2 } from '@x3dh-iot/protocol';
import type { ConnectionSettings } from '../connection_settings.js';
import { DeviceError } from '../errors.js';

/**
 * What a device is provisioned with for its deployment (docs/protocol-v2.md section 6.11): the
 * deployment id, signed into every request, and the operator public key that certifies its peers'
 * identity keys.
 */
export interface DeviceProvisioning {
  deploymentId: string;
  /** The operator's X25519 public key (32 bytes); null when none was provisioned. */
  operatorKey: Uint8Array | null;
  /**
   * Without an operator key, accept peers' keys on first use (the directory's word, unverified).
   * Off by default: an unprovisioned device then refuses every bundle and directory answer.
   */
  trustOnFirstUse?: boolean | undefined;
}

/** Checks a provisioning's shape: a valid deployment id and, when given, a 32-byte operator key. */
export function checkProvisioning(provisioning: DeviceProvisioning): DeviceProvisioning {
  if (!wireV2.isDeploymentId(provisioning.deploymentId)) {
    throw new DeviceError('INVALID_INPUT', `deployment id ${JSON.stringify(provisioning.deploymentId)} is not 1 to 64 of A-Z a-z 0-9 . _ -`);
  }
  if (provisioning.operatorKey !== null && provisioning.operatorKey.length !== 32) {
    throw new DeviceError('INVALID_INPUT', `the operator key must be 32 bytes (X25519 public key, base64url), got ${provisioning.operatorKey.length}`);
  }
  return provisioning;
}

/** The provisioning of a device's settings (flags, environment, config file); undefined without a deployment id. */
export function provisioningOf(settings: ConnectionSettings): DeviceProvisioning | undefined {
  if (!settings.deploymentId) {
    if (settings.operatorKey) throw new DeviceError('INVALID_INPUT', 'an operator key needs its deployment id (--deployment-id)');
    return undefined;
  }
  let operatorKey: Uint8Array | null = null;
  if (settings.operatorKey) {
    try {
      operatorKey = decodeBase64url(settings.operatorKey.trim(), 'operator key');
    } catch (error) {
      throw new DeviceError('INVALID_INPUT', `operator key: ${(error as Error).message}`);
    }
  }
  return checkProvisioning({ deploymentId: settings.deploymentId, operatorKey, trustOnFirstUse: settings.trustOnFirstUse });
}

/** How this device trusts the directory, for status displays. */
export function trustMode(provisioning: DeviceProvisioning | undefined): string {
  if (provisioning === undefined) return 'not provisioned (no deployment id): v2 requests cannot be signed';
  if (provisioning.operatorKey !== null) return `operator-certified (deployment ${provisioning.deploymentId})`;
  return provisioning.trustOnFirstUse
    ? `trust on first use (NOT verified by an operator key; deployment ${provisioning.deploymentId})`
    : `no operator key: peers' keys are refused (deployment ${provisioning.deploymentId})`;
}
