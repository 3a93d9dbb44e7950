import { encodeBase64url, keyPairFromPrivateKey, wireV2, xeddsaSigningKey, xeddsaSignWith, type XeddsaSigningKey } from '@x3dh-iot/protocol';

/**
 * The operator's signing key and the deployment id this server serves (docs/protocol-v2.md section
 * 6.11): it signs the identity certificates handed out with bundles and directory answers, and the
 * deployment id must be the one every request was signed for.
 */
export class OperatorIdentity {
  readonly publicKey: Uint8Array;
  /** Names the key and deployment a stored certificate was made under (users.certificate_issuer). */
  readonly issuer: string;
  private readonly signingKey: XeddsaSigningKey;

  constructor(privateKey: Uint8Array, readonly deploymentId: string) {
    if (!wireV2.isDeploymentId(deploymentId)) throw new Error(`deployment id ${JSON.stringify(deploymentId)} is not 1 to 64 of A-Z a-z 0-9 . _ -`);
    this.publicKey = keyPairFromPrivateKey(privateKey).publicKey;
    this.signingKey = xeddsaSigningKey(privateKey);
    this.issuer = `${deploymentId}/${encodeBase64url(this.publicKey)}`;
  }

  /** The certificate of `identityKey` as `device`'s at `epoch` in this deployment. */
  certify(device: string, identityKey: Uint8Array, epoch: number): Uint8Array {
    return xeddsaSignWith(this.signingKey, wireV2.identityCertificateInput({ device, identityKey, epoch, deploymentId: this.deploymentId }));
  }
}
