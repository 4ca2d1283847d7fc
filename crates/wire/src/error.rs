/// Why a packet was rejected by a wire parser. Each variant is a drop reason
/// that the stack counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The buffer is shorter than the header or a length field says.
    Truncated,
    /// IP version is not the one expected.
    BadVersion,
    /// IPv4 IHL < 5 or header longer than the buffer.
    BadHeaderLen,
    /// IPv4 total length smaller than the header or larger than the buffer.
    BadTotalLen,
    /// Checksum does not verify.
    BadChecksum,
    /// TCP data offset < 5 or beyond the segment.
    BadDataOffset,
    /// Malformed TCP option (length 0/1, past the header, wrong fixed length).
    BadOption,
    /// UDP length field inconsistent with the buffer.
    BadLength,
    /// Well-formed but something we do not handle.
    Unsupported,
}

impl WireError {
    /// A short stable name, used as the drop-counter label.
    pub fn as_str(&self) -> &'static str {
        match self {
            WireError::Truncated => "truncated",
            WireError::BadVersion => "bad_version",
            WireError::BadHeaderLen => "bad_header_len",
            WireError::BadTotalLen => "bad_total_len",
            WireError::BadChecksum => "bad_checksum",
            WireError::BadDataOffset => "bad_data_offset",
            WireError::BadOption => "bad_option",
            WireError::BadLength => "bad_length",
            WireError::Unsupported => "unsupported",
        }
    }
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for WireError {}
