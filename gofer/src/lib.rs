//! The Gofer.
