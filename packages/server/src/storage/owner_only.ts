/** Modes of what only the server's user may read or write: the data directory, the cluster's log. */
export const OWNER_ONLY_DIR_MODE = 0o700;
export const OWNER_ONLY_FILE_MODE = 0o600;
