// A software WebAuthn authenticator for the tests: a P-256 key from node:crypto, a `none`
// attestation in hand-written CBOR, a signature counter; @simplewebauthn/server verifies it for real.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

type Cbor = number | string | Uint8Array | Map<number | string, Cbor> | { [key: string]: Cbor };

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 256) return Buffer.from([(major << 5) | 24, n]);
  if (n < 65536) return Buffer.from([(major << 5) | 25, n >> 8, n & 255]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor(k), cbor(v)])]);
}

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();

/** A platform authenticator in a few lines: one credential, a signature counter. */
export class SoftwareAuthenticator {
  readonly id: Buffer;
  private readonly keys: { publicKey: KeyObject; privateKey: KeyObject };
  private counter: number;
  constructor(from?: SoftwareAuthenticator) {
    this.id = from?.id ?? randomBytes(16);
    this.keys = from?.keys ?? generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.counter = from?.counter ?? 0;
  }

  /** A copy of this authenticator's key and counter as they are now (an attacker's clone). */
  clone(): SoftwareAuthenticator {
    return new SoftwareAuthenticator(this);
  }

  /**
   * `userVerified: false` is a key that only saw a touch (UP) and checked no PIN or biometric:
   * the UV flag is left out of the authenticator data, which the signature covers.
   */
  register(
    options: { challenge: string; rp: { id?: string } },
    origin: string,
    { userVerified = true }: { userVerified?: boolean } = {},
  ) {
    const jwk = this.keys.publicKey.export({ format: 'jwk' });
    const cose = cbor(
      new Map<number, Cbor>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]),
    );
    const length = Buffer.alloc(2);
    length.writeUInt16BE(this.id.length);
    const authData = Buffer.concat([
      sha256(options.rp.id!),
      Buffer.from([userVerified ? 0x45 : 0x41]), // user present, (user verified,) attested credential data
      Buffer.alloc(4), // counter 0
      Buffer.alloc(16), // AAGUID
      length,
      this.id,
      cose,
    ]);
    const clientDataJSON = JSON.stringify({
      type: 'webauthn.create',
      challenge: options.challenge,
      origin,
      crossOrigin: false,
    });
    return {
      id: b64url(this.id),
      rawId: b64url(this.id),
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientDataJSON),
        attestationObject: b64url(cbor({ fmt: 'none', attStmt: {}, authData })),
        transports: ['internal'],
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  assert(
    options: { challenge: string; rpId?: string },
    origin: string,
    key = this.keys.privateKey,
    { userVerified = true }: { userVerified?: boolean } = {},
  ) {
    this.counter++;
    const count = Buffer.alloc(4);
    count.writeUInt32BE(this.counter);
    // 0x01 user present, 0x04 user verified.
    const flags = userVerified ? 0x05 : 0x01;
    const authData = Buffer.concat([sha256(options.rpId!), Buffer.from([flags]), count]);
    const clientDataJSON = JSON.stringify({
      type: 'webauthn.get',
      challenge: options.challenge,
      origin,
      crossOrigin: false,
    });
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), key);
    return {
      id: b64url(this.id),
      rawId: b64url(this.id),
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
      },
      clientExtensionResults: {},
    };
  }
}
