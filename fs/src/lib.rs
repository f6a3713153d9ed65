//! The VFS.
