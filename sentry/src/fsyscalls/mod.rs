//! File, directory, pipe, poll and tty syscalls over the VFS.

use crate::syscalls::Entry;

/// The syscall lists of this module, added to the table.
pub fn entries() -> Vec<&'static [Entry]> {
    vec![]
}
