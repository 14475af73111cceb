//! The values of a call as frames, both ways: the `REPLY` a handler's result becomes and what a
//! client makes of one, and the `ITEM` frames of a streaming call.

use std::ops::Range;

use bytes::Bytes;

use crate::error::{CallError, ProtocolError, RpcError};
use crate::wire::arena::{InlineFrame, encode_reusing};
use crate::wire::frame::{
    ReplyStatus, SMALL_FRAME, encode_reply_text, item_header, push_reply_header, reply_header,
};
use crate::wire::out::OutFrame;
use crate::wire::{Archived, Codable, DecodeError, EncodeError, WireValue};

/// A `REPLY` as received: the whole message (or the inflated frame), and where its body starts.
#[derive(Debug, Clone)]
pub struct RawReply {
    /// The reply's status byte.
    pub status: ReplyStatus,
    /// The frame.
    pub message: Bytes,
    /// Where the body starts in `message`.
    pub body_at: usize,
}

/// The `REPLY` frame of call `call_id` for a handler's `result`. A value that cannot be encoded
/// becomes status `Internal`, with the reason.
///
/// A view that stands alone (a received argument handed back, a view made with
/// [`Archived::new`]) is not copied here: the frame stays its header and the view's buffer until it
/// is written, when the header usually goes in place before the archive (see [`OutFrame`]).
pub(crate) fn encode_reply<T: WireValue, E: Codable>(
    call_id: u32,
    result: Result<T, E>,
) -> OutFrame {
    match result {
        Ok(value) if T::IS_VIEW => value
            .into_outgoing()
            .and_then(|outgoing| {
                OutFrame::of(
                    reply_header(call_id, ReplyStatus::Ok, SMALL_FRAME),
                    outgoing,
                )
            })
            .unwrap_or_else(|e| internal_reply(call_id, &e).into()),
        // Encoded in the thread's scratch buffer: a small reply is then held in place.
        result => {
            let encoded = encode_reusing(
                |mut buf| match result {
                    Ok(value) => {
                        push_reply_header(&mut buf, call_id, ReplyStatus::Ok);
                        value.write_wire(buf)
                    }
                    Err(error) => {
                        push_reply_header(&mut buf, call_id, ReplyStatus::HandlerError);
                        error.encode_into(buf)
                    }
                },
                InlineFrame::new,
            );
            match encoded {
                Ok(Ok(inline)) => OutFrame::Inline(inline),
                Ok(Err(frame)) => frame.into(),
                Err(e) => internal_reply(call_id, &e).into(),
            }
        }
    }
}

/// The `REPLY` frame of [`encode_reply`], always encoded into a new buffer (a stream's end, an
/// error).
pub(crate) fn encode_reply_vec<T: WireValue, E: Codable>(
    call_id: u32,
    result: Result<T, E>,
) -> Vec<u8> {
    let encoded = match result {
        Ok(value) => value.write_wire(reply_header(call_id, ReplyStatus::Ok, SMALL_FRAME)),
        Err(error) => error.encode_into(reply_header(
            call_id,
            ReplyStatus::HandlerError,
            SMALL_FRAME,
        )),
    };
    encoded.unwrap_or_else(|e| internal_reply(call_id, &e))
}

/// Status `Internal` for a value that could not be encoded, logged.
pub(crate) fn internal_reply(call_id: u32, error: &EncodeError) -> Vec<u8> {
    let error = crate::error::Chain(error).to_string();
    tracing::error!(call_id, %error, "could not encode a reply");
    encode_reply_text(call_id, ReplyStatus::Internal, &error)
}

/// The `ITEM` frame of streaming call `call_id` carrying `item`.
pub(crate) fn encode_item<T: WireValue>(call_id: u32, item: &T) -> Result<Vec<u8>, EncodeError> {
    item.write_wire(item_header(call_id, SMALL_FRAME))
}

/// A received value, `message[range]`, validated once in place and given as `T` (a view, or
/// deserialized: then straight from the bytes, without a view to hold them).
#[inline(always)]
pub(crate) fn decode_value<T: WireValue>(
    message: &Bytes,
    range: Range<usize>,
    max_depth: usize,
) -> Result<T, DecodeError> {
    if !T::IS_VIEW {
        let bytes = message
            .get(range)
            .ok_or_else(|| DecodeError::new("archive out of the message's bounds"))?;
        let wire = <T::Wire as Codable>::decode_within(bytes, max_depth)?;
        return T::from_owned(wire).ok_or_else(|| DecodeError::new("a view has no owned form"));
    }
    Archived::<T::Wire>::validate(message.clone(), range, max_depth).and_then(T::from_view)
}

/// What a client makes of a `REPLY`: the handler's value or error, or why the call failed.
pub(crate) fn decode_reply<T: WireValue, E: Codable>(
    reply: &RawReply,
    max_depth: usize,
) -> Result<T, CallError<E>> {
    let body = &reply.message[reply.body_at..];
    let text = || String::from_utf8_lossy(body).into_owned();
    let bad_value = |e: DecodeError| CallError::from(ProtocolError::Reply(e));
    match reply.status {
        // Validated once in the received buffer: a view keeps it, an owned value is deserialized.
        ReplyStatus::Ok => decode_value(
            &reply.message,
            reply.body_at..reply.message.len(),
            max_depth,
        )
        .map_err(bad_value),
        ReplyStatus::HandlerError => Err(CallError::Handler(
            E::decode_within(body, max_depth).map_err(bad_value)?,
        )),
        ReplyStatus::Panicked => Err(RpcError::HandlerPanicked(text()).into()),
        ReplyStatus::UnknownMethod => Err(RpcError::UnknownMethod(text()).into()),
        ReplyStatus::BadArguments => Err(RpcError::BadArguments(text()).into()),
        ReplyStatus::Internal => Err(RpcError::Internal(text()).into()),
        ReplyStatus::TimedOut => Err(RpcError::Timeout(text()).into()),
        ReplyStatus::Cancelled => Err(RpcError::Cancelled(text()).into()),
        ReplyStatus::Refused => Err(RpcError::Refused(text()).into()),
    }
}
