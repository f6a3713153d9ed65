//! The in-sandbox network stack. Not implemented yet: socket syscalls of
//! every family but AF_UNIX return EAFNOSUPPORT/ENOSYS in the Sentry.
