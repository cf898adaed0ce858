//! c1z's errors as gRPC statuses, with messages that say what to do.

use tonic::Status;

use crate::error::Error;

/// The status of a store error: an unknown sync or object is `NOT_FOUND`, a bad argument
/// (a foreign or malformed page token) `INVALID_ARGUMENT`, damaged data `DATA_LOSS`, an
/// engine without the operation `UNIMPLEMENTED`, everything else `INTERNAL`.
pub(super) fn to_status(err: &Error) -> Status {
    match err {
        Error::NotFound {
            what: "sync run", ..
        } => Status::not_found(format!(
            "{err}; c1.reader.v2.SyncsReaderService/ListSyncs lists the syncs of the file"
        )),
        Error::NotFound { .. } => Status::not_found(format!(
            "{err} in the sync read; name another sync with active_sync_id or a \
             c1.c1z.v1.SyncDetails annotation (ListSyncs lists them)"
        )),
        Error::InvalidArgument(_) => Status::invalid_argument(format!(
            "{err}; pass the next_page_token of the previous response unchanged, or an \
             empty token for the first page"
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

/// The error with its sources, `: `-separated.
fn chain(err: &Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
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
}
