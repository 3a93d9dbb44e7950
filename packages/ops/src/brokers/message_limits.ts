/**
 * The largest message a broker passes on, for every configuration generated here: above the key
 * server's largest reply (a mailbox.fetch of 100 envelopes of 48 KiB, base64: about 6.6 MB), far
 * above its requests (at most 64 KiB; the server refuses larger ones).
 */
export const MESSAGE_SIZE_LIMIT = 8 * 1024 * 1024;
