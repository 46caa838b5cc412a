/** Defaults shared by several components (kept here so light modules need not load heavy ones). */

/** The embedded datastore's file when nothing else is configured. */
export const DEFAULT_SQLITE_PATH = '/var/lib/weft/weft.db';
