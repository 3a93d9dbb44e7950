/** The shapes the console's API answers with (the operator operations' results). */

export interface FleetDevice {
  device: string;
  protocol: string;
  state: string;
  enrolled: string | null;
  last_seen: string | null;
  signed_prekey_id: number | null;
  signed_prekey_age_days: number | null;
  one_time_prekeys: number;
  mailbox_messages: number;
  alerts: string[];
}

export interface AuditEntry {
  id: string;
  at: string | null;
  actor: string;
  action: string;
  target: string | null;
  detail: string | null;
}

export interface DeviceDetail extends FleetDevice {
  identity_key: string;
  identity_fingerprint: string;
  /** The epoch of the operator certificate over the identity key; null before one was issued. */
  certificate_epoch: number | null;
  history: AuditEntry[];
}

export interface EnrolmentToken {
  id: string;
  device: string | null;
  note: string | null;
  state: string;
  created: string | null;
  expires: string | null;
  used: string | null;
  used_by: string | null;
  revoked: string | null;
}

export interface LiveReading {
  at: number;
  requests: Record<string, number>;
  outcomes: Record<string, number>;
  latency: [number | null, number][];
  batches: { requests: number; transactions: number };
  health: { broker: boolean; database: boolean; notReady: string | null };
  replicas: { id: string; started: string }[] | null;
}
