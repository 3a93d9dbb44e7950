/**
 * An IPv4 subnet in CIDR notation. IPv4 only: the ESP32 WireGuard port and the original firmware's
 * `keys.h` (address + dotted netmask) know nothing else.
 */
export class Ipv4Subnet {
  private constructor(
    readonly network: number,
    readonly prefixLength: number,
  ) {}

  static parse(cidr: string): Ipv4Subnet {
    const match = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr);
    const prefixLength = Number(match?.[2]);
    if (!match || prefixLength > 32) throw new Error(`not an IPv4 subnet (a.b.c.d/n): ${cidr}`);
    const address = parseIpv4(match[1]!);
    const subnet = new Ipv4Subnet((address & maskOf(prefixLength)) >>> 0, prefixLength);
    if (subnet.network !== address) throw new Error(`${cidr} has host bits set (did you mean ${subnet.toString()}?)`);
    return subnet;
  }

  get netmask(): string {
    return formatIpv4(maskOf(this.prefixLength));
  }

  /** Usable host addresses, in order (network and broadcast addresses excluded). */
  get hostCount(): number {
    return 2 ** (32 - this.prefixLength) - 2;
  }

  host(index: number): string {
    if (!Number.isInteger(index) || index < 1 || index > this.hostCount) throw new Error(`host ${index} is outside ${this.toString()}`);
    return formatIpv4(this.network + index);
  }

  /** Whether an IPv4 address lies in the subnet (false for anything that is not an IPv4 address). */
  contains(address: string): boolean {
    try {
      return ((parseIpv4(address) & maskOf(this.prefixLength)) >>> 0) === this.network;
    } catch {
      return false;
    }
  }

  toString(): string {
    return `${formatIpv4(this.network)}/${this.prefixLength}`;
  }
}

function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

function parseIpv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((part) => !/^\d{1,3}$/.test(part) || Number(part) > 255)) throw new Error(`not an IPv4 address: ${text}`);
  return parts.reduce((value, part) => value * 256 + Number(part), 0);
}

function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.');
}
