//! Byte ranges (RFC 9110 §14): the `Range` a client asks for, the `Content-Range` a 206
//! answers with, and the validator that `If-Range` sends back.

use super::client::RangeAsk;
use super::error::DownloadError;
use super::http::ResponseHead;

/// `bytes=START-` or `bytes=START-END`.
pub fn range_header(ask: &RangeAsk) -> String {
    match ask.end {
        Some(end) => format!("bytes={}-{end}", ask.start),
        None => format!("bytes={}-", ask.start),
    }
}

/// A `Content-Range: bytes FIRST-LAST/TOTAL` (TOTAL may be `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub first: u64,
    pub last: u64,
    pub total: Option<u64>,
}

/// Parses a satisfied `Content-Range` (not the `bytes */TOTAL` of a 416).
pub fn parse_content_range(value: &str) -> Option<ContentRange> {
    let spec = value.trim().strip_prefix("bytes ")?.trim();
    let (span, total) = spec.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    let number = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let (first, last) = (number(first)?, number(last)?);
    let total = match total.trim() {
        "*" => None,
        t => Some(number(t)?),
    };
    if last < first || total.is_some_and(|t| last >= t) {
        return None;
    }
    Some(ContentRange { first, last, total })
}

/// Checks a 206 against what was asked and returns where its body starts and the size of
/// the whole file: a server answering another range than asked, or a body whose length
/// disagrees with its range, is a protocol error, never silently stitched in.
pub fn check_partial(
    head: &ResponseHead,
    ask: &RangeAsk,
    length: Option<u64>,
) -> Result<(u64, Option<u64>), DownloadError> {
    let value = head.headers.get("content-range").ok_or_else(|| {
        DownloadError::Protocol("206 Partial Content without a Content-Range".into())
    })?;
    let range = parse_content_range(value)
        .ok_or_else(|| DownloadError::Protocol(format!("bad Content-Range {value:?}")))?;
    let end_ok = ask.end.is_none_or(|end| range.last <= end);
    if range.first != ask.start || !end_ok {
        return Err(DownloadError::Protocol(format!(
            "asked for {} and got Content-Range {value:?}",
            range_header(ask)
        )));
    }
    if length.is_some_and(|n| n != range.last - range.first + 1) {
        return Err(DownloadError::Protocol(format!(
            "Content-Range {value:?} but a body of {} bytes",
            length.unwrap_or_default()
        )));
    }
    Ok((range.first, range.total))
}

/// Whether a 416 says the file is exactly as long as the part already held: an open
/// range starting at the end (`Content-Range: bytes */START`).
pub fn already_complete(head: &ResponseHead, ask: &RangeAsk) -> bool {
    ask.end.is_none()
        && ask.start > 0
        && head
            .headers
            .get("content-range")
            .and_then(|v| v.trim().strip_prefix("bytes */"))
            .and_then(|total| total.trim().parse::<u64>().ok())
            == Some(ask.start)
}

/// What `If-Range` can send back: a strong ETag, else the Last-Modified date (weak ETags
/// never match a range request, RFC 9110 §13.1.5).
pub fn validator(head: &ResponseHead) -> Option<String> {
    let etag = head.headers.get("etag").map(str::trim);
    match etag {
        Some(tag) if tag.starts_with('"') => Some(tag.to_owned()),
        _ => head
            .headers
            .get("last-modified")
            .map(|d| d.trim().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        let r = |first, last, total| Some(ContentRange { first, last, total });
        assert_eq!(parse_content_range("bytes 0-9/10"), r(0, 9, Some(10)));
        assert_eq!(parse_content_range("bytes 5-9/*"), r(5, 9, None));
        for bad in [
            "bytes 9-5/10",
            "bytes 0-10/10",
            "bytes */10",
            "items 0-1/2",
            "bytes -1-2/3",
            "bytes 0-1",
            "bytes +1-2/3",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
        let ask = |start, end| RangeAsk {
            start,
            end,
            if_range: None,
        };
        assert_eq!(range_header(&ask(7, None)), "bytes=7-");
        assert_eq!(range_header(&ask(7, Some(9))), "bytes=7-9");
    }
}
