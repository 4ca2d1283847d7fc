//! Congestion control behind a trait, so that NewReno, CUBIC and others can
//! be swapped per connection.

/// Which controller a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CongestionKind {
    /// RFC 5681 + RFC 6582.
    #[default]
    NewReno,
}
