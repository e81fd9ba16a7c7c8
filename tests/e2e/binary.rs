//! The real binary: `vigie serve --demo` on a fresh directory, over a socket.
