//! ICMPv4 handling (RFC 792, RFC 1122 §3.2.2).
