//! UDP sockets (RFC 768).
