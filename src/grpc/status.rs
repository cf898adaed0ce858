//! c1z's errors as gRPC statuses, with messages that say what to do.

use tonic::Status;

use crate::error::Error;

/// Longest text of a status message taken from an error or a request (bytes). Errors echo
/// what the request named (a page token, a sync id), and a status message travels in an
/// HTTP/2 header: clients refuse header lists over 16 KiB (hyper's and grpc-go's default)
/// with a protocol error, so a long token would turn `INVALID_ARGUMENT` into a transport
/// failure. Percent-encoding may triple this; the rest of the message is short.
pub(super) const MAX_MESSAGE_BYTES: usize = 1024;

/// `text` cut to at most [`MAX_MESSAGE_BYTES`] at a character boundary, marked with `…`
/// and the length it had.
pub(super) fn clip(text: String) -> String {
    if text.len() <= MAX_MESSAGE_BYTES {
        return text;
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// The status of a store error: an unknown sync or object is `NOT_FOUND`, a bad argument
/// (a foreign or malformed page token) `INVALID_ARGUMENT`, damaged data `DATA_LOSS`, an
/// engine without the operation `UNIMPLEMENTED`, everything else `INTERNAL`.
pub(super) fn to_status(err: &Error) -> Status {
    match err {
        Error::NotFound {
            what: "sync run", ..
        } => Status::not_found(format!(
            "{}; c1.reader.v2.SyncsReaderService/ListSyncs lists the syncs of the file",
            clip(err.to_string())
        )),
        Error::NotFound { .. } => Status::not_found(format!(
            "{} in the sync read; name another sync with active_sync_id or a \
             c1.c1z.v1.SyncDetails annotation (ListSyncs lists them)",
            clip(err.to_string())
        )),
        Error::InvalidArgument(_) => Status::invalid_argument(format!(
            "{}; pass the next_page_token of the previous response unchanged, or an \
             empty token for the first page",
            clip(err.to_string())
        )),
        Error::Corrupt { .. } | Error::Decode { .. } => Status::data_loss(format!(
            "{}; the file is damaged (`c1z verify FILE` names the damaged part)",
            chain(err)
        )),
        Error::Unsupported { .. } | Error::EngineNotSupported { .. } => {
            Status::unimplemented(chain(err))
        }
        Error::LimitExceeded { .. } => Status::resource_exhausted(chain(err)),
        _ => Status::internal(chain(err)),
    }
}

/// The error with its sources, `: `-separated, [`clip`]ped.
fn chain(err: &Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    clip(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_error_kind() {
        let code = |e: Error| to_status(&e).code();
        assert_eq!(
            code(Error::not_found("sync run", "x")),
            tonic::Code::NotFound
        );
        assert_eq!(code(Error::not_found("grant", "x")), tonic::Code::NotFound);
        assert_eq!(
            code(Error::InvalidArgument("bad page token".into())),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            code(Error::corrupt("grant", "truncated")),
            tonic::Code::DataLoss
        );
        assert_eq!(
            code(Error::ReadOnly { operation: "save" }),
            tonic::Code::Internal
        );
        let msg = to_status(&Error::not_found("sync run", "x"))
            .message()
            .to_owned();
        assert!(msg.contains("ListSyncs"), "{msg}");
    }

    #[test]
    fn echoed_text_is_clipped_at_a_char_boundary() {
        let long = format!("invalid page token '{}'", "é".repeat(10_000));
        let msg = to_status(&Error::InvalidArgument(long))
            .message()
            .to_owned();
        assert!(msg.len() < MAX_MESSAGE_BYTES + 200, "{}", msg.len());
        assert!(
            msg.contains("bytes in all") && msg.contains("next_page_token"),
            "{msg}"
        );
        assert_eq!(clip("short".into()), "short");
    }
}
