import ipaddr from 'ipaddr.js';

/**
 * An IPv4 subnet in CIDR notation. IPv4 only: the ESP32 WireGuard port and the original firmware's
 * `keys.h` (address + dotted netmask) know nothing else. Parsing and masks are ipaddr.js's; only the
 * numbering of hosts (index -> address) is done here, on the address as a 32-bit number.
 */
export class Ipv4Subnet {
  private constructor(
    readonly network: number,
    readonly prefixLength: number,
  ) {}

  static parse(cidr: string): Ipv4Subnet {
    const [address, prefix, ...rest] = cidr.split('/');
    if (prefix === undefined || rest.length > 0 || !/^\d{1,2}$/.test(prefix) || Number(prefix) > 32) {
      throw new Error(`not an IPv4 subnet (a.b.c.d/n): ${cidr}`);
    }
    // Four decimal parts only: ipaddr.js alone would also take "10.1" or octal "010.0.0.1".
    if (!ipaddr.IPv4.isValidFourPartDecimal(address!)) throw new Error(`not an IPv4 address: ${address}`);
    const [parsed, prefixLength] = ipaddr.IPv4.parseCIDR(cidr);
    const subnet = new Ipv4Subnet(toNumber(ipaddr.IPv4.networkAddressFromCIDR(cidr)), prefixLength);
    if (subnet.network !== toNumber(parsed)) throw new Error(`${cidr} has host bits set (did you mean ${subnet.toString()}?)`);
    return subnet;
  }

  get netmask(): string {
    return ipaddr.IPv4.subnetMaskFromPrefixLength(this.prefixLength).toString();
  }

  /** Usable host addresses, in order (network and broadcast addresses excluded). */
  get hostCount(): number {
    return 2 ** (32 - this.prefixLength) - 2;
  }

  host(index: number): string {
    if (!Number.isInteger(index) || index < 1 || index > this.hostCount) throw new Error(`host ${index} is outside ${this.toString()}`);
    return fromNumber(this.network + index);
  }

  /** Whether an IPv4 address lies in the subnet (false for anything that is not an IPv4 address). */
  contains(address: string): boolean {
    if (!ipaddr.IPv4.isValidFourPartDecimal(address)) return false;
    return ipaddr.IPv4.parse(address).match(ipaddr.IPv4.parse(fromNumber(this.network)), this.prefixLength);
  }

  toString(): string {
    return `${fromNumber(this.network)}/${this.prefixLength}`;
  }
}

const toNumber = (address: ipaddr.IPv4): number => address.toByteArray().reduce((value, byte) => value * 256 + byte, 0);

const fromNumber = (value: number): string => ipaddr.fromByteArray([24, 16, 8, 0].map((shift) => (value >>> shift) & 255)).toString();
