//! The HTTP transport of a publish (`PUT`/`POST /ingest/{stream}`): the request body is the recording,
//! as long as the stream. Its end (the last chunk of a chunked body) is the publisher's stop; a body
//! that breaks off (the client vanished) is a vanished publisher, kept for the reconnect grace. The
//! body is read only as fast as the packager takes it ([`publish::run`] stops asking while pushed
//! back), so TCP pushes back on the client. The route ([`crate::http::ingest`]) answers once the
//! presentation is finalised, with the [`Outcome`].

use std::sync::Arc;

use actix_web::web::Payload;
use futures_util::StreamExt;

use super::publish::{self, Gone, Incoming, IngestContext, Outcome, PublishRequest, Transport};
use crate::protocol::ServerMessage;
use crate::stream_id::StreamId;

/// Publishes `body` to its end.
pub async fn run(context: Arc<IngestContext>, request: PublishRequest, body: Payload) -> Outcome {
    let mut transport = Body { stream: request.stream.clone(), body, ended: false };
    publish::run(context, request, &mut transport).await
}

/// A request body as a publisher's transport.
struct Body {
    /// For the log.
    stream: StreamId,
    body: Payload,
    /// The body ended: nothing more will come, and [`Transport::next`] stays pending.
    ended: bool,
}

impl Transport for Body {
    async fn next(&mut self) -> Incoming {
        if self.ended {
            return std::future::pending().await;
        }
        // `Payload::next` is cancel-safe: a chunk is taken off its queue only when returned.
        loop {
            match self.body.next().await {
                Some(Ok(bytes)) if bytes.is_empty() => continue,
                Some(Ok(bytes)) => return Incoming::Bytes(bytes),
                None => {
                    self.ended = true;
                    return Incoming::Stop;
                }
                Some(Err(error)) => {
                    self.ended = true;
                    log::info!("stream {}: the request body broke off: {error}", self.stream);
                    return Incoming::Gone;
                }
            }
        }
    }

    /// An HTTP publisher hears only the final answer; the events in between are for viewers.
    async fn send(&mut self, _message: &ServerMessage) -> Result<(), Gone> {
        Ok(())
    }
}
