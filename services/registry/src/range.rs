//! The one `Range` form clients of an artifact download use: a single byte range
//! (`bytes=a-b`, `bytes=a-`, `bytes=-n`, RFC 9110 §14.1.2). Several ranges are answered with
//! the whole body, which the RFC allows; a range past the end is unsatisfiable (416).
//! Hand-written because it is twenty lines and the crates that do it serve files, not blobs.

use std::ops::RangeInclusive;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByteRange {
    /// No usable `Range`: send everything.
    Whole,
    Part(RangeInclusive<u64>),
    Unsatisfiable,
}

pub fn parse(header: Option<&str>, length: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let number = |text: &str| -> Option<u64> {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    match (number(start), number(end), start.is_empty()) {
        // bytes=-n: the last n bytes.
        (None, Some(suffix), true) => {
            if suffix == 0 || length == 0 {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part(length.saturating_sub(suffix)..=length - 1)
            }
        }
        (Some(first), last, false) if end.is_empty() || last.is_some() => {
            if first >= length {
                return ByteRange::Unsatisfiable;
            }
            let last = last.map_or(length - 1, |l| l.min(length - 1));
            if last < first {
                ByteRange::Whole
            } else {
                ByteRange::Part(first..=last)
            }
        }
        _ => ByteRange::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_in_every_form() {
        assert_eq!(parse(Some("bytes=0-9"), 100), ByteRange::Part(0..=9));
        assert_eq!(parse(Some("bytes=90-"), 100), ByteRange::Part(90..=99));
        assert_eq!(parse(Some("bytes=90-500"), 100), ByteRange::Part(90..=99));
        assert_eq!(parse(Some("bytes=-10"), 100), ByteRange::Part(90..=99));
        assert_eq!(parse(Some("bytes=-500"), 100), ByteRange::Part(0..=99));
        assert_eq!(parse(Some("bytes=100-"), 100), ByteRange::Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 100), ByteRange::Unsatisfiable);
        assert_eq!(parse(Some("bytes=5-3"), 100), ByteRange::Whole);
        assert_eq!(parse(Some("bytes=0-1,5-6"), 100), ByteRange::Whole);
        assert_eq!(parse(Some("items=0-1"), 100), ByteRange::Whole);
        assert_eq!(parse(Some("bytes=x-1"), 100), ByteRange::Whole);
        assert_eq!(parse(None, 100), ByteRange::Whole);
    }
}
