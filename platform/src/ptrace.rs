//! The ptrace platform (see the module docs in the implementation).
