import { Command } from 'commander';
import { writeKeysHeader } from '../firmware/write_keys_header.js';
import { parseBrokerUri, withOutputOptions, writeOptions, type OutputOptions } from './common_options.js';

export function firmwareCommand(): Command {
  const firmware = new Command('firmware').description('files for the ESP32 firmware');

  withOutputOptions(firmware.command('keys-h').description("write a device's main/keys.h (WireGuard peer, broker URI, CA certificate, operator public key and deployment id)"))
    .argument('<device>', 'device name (must have a WireGuard peer)')
    .requiredOption('--broker-uri <uri>', 'MQTT broker as the device reaches it through the tunnel, e.g. mqtts://10.96.100.100:8883', parseBrokerUri)
    .option('-o, --out <path>', 'output file (default: <dir>/firmware/<device>/keys.h)')
    .option('--operator-dir <dir>', 'where operator init wrote the operator key (default: <dir>/operator)')
    .action(async (device: string, options: OutputOptions & { brokerUri: string; out?: string; operatorDir?: string }) => {
      await writeKeysHeader(options.dir, device, { ...writeOptions(options), brokerUri: options.brokerUri, out: options.out, operatorDir: options.operatorDir });
    });

  return firmware;
}
