//! One RTMP connection's protocol, without IO: bytes from the encoder go in ([`Session::feed`]),
//! bytes to send back and what happened come out ([`Fed`]). `rml_rtmp` does the handshake, the chunk
//! stream and the commands; this keeps to what livedash needs of them: `connect` to the `live` app,
//! one `publish`, its audio, video and metadata messages, and its end.

use rml_rtmp::handshake::{Handshake, HandshakeError, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{ServerSession, ServerSessionConfig, ServerSessionError, ServerSessionEvent, ServerSessionResult};

use bytes::Bytes;

use super::flv::TagKind;

/// The only RTMP application: `rtmp://HOST:1935/live`.
pub const APP: &str = "live";

/// The status code a refused publish is answered with (`onStatus`); the description says why.
const PUBLISH_REFUSED: &str = "NetStream.Publish.Rejected";

/// What the encoder did.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// It asks to publish `stream_key` (app `live`); answer with [`Session::accept`] or [`Session::reject`].
    Publish { request: u32, stream_key: String },
    /// It connected to another application than [`APP`], and was refused.
    WrongApp { app: String },
    /// Its stream's metadata: which tracks it will send, when it says.
    Tracks { has_audio: bool, has_video: bool },
    /// An audio or video message: an FLV tag body.
    Media { kind: TagKind, timestamp_ms: u32, body: Bytes },
    /// It stopped publishing (`FCUnpublish` or `deleteStream`; there may be both).
    Finished,
}

/// The result of feeding bytes.
#[derive(Debug, Default)]
pub struct Fed {
    /// To send to the encoder, in order.
    pub send: Vec<u8>,
    pub events: Vec<Event>,
}

/// Why the connection cannot go on; `offset` is where in the encoder's bytes it was noticed.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("the RTMP handshake failed at byte {offset}: {source:?}")]
    Handshake { offset: u64, source: HandshakeError },
    #[error("the RTMP stream broke at byte {offset}: {source}")]
    Session { offset: u64, source: ServerSessionError },
    /// `rml_rtmp` panicked on these bytes (an arithmetic overflow on a chunk whose header contradicts
    /// the message it continues, found by fuzzing): the connection cannot go on, and the rest of the
    /// server must not notice.
    #[error("the RTMP chunk stream could not be read at byte {offset} (the RTMP library gave up on it)")]
    Unreadable { offset: u64 },
}

enum Phase {
    Handshaking(Box<Handshake>),
    Connected(Box<ServerSession>),
    /// After [`ProtocolError::Unreadable`]: the library's state is not to be trusted again.
    Broken,
}

/// One connection's protocol state.
pub struct Session {
    phase: Phase,
    /// Bytes fed so far, for error positions.
    offset: u64,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    pub fn new() -> Session {
        Session { phase: Phase::Handshaking(Box::new(Handshake::new(PeerType::Server))), offset: 0 }
    }

    /// Takes bytes from the encoder, in order, cut anywhere.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Fed, ProtocolError> {
        let offset = self.offset;
        // `rml_rtmp` can panic on hostile chunk headers (overflow checks are on for it in every
        // profile, so it panics rather than waiting for gigabytes): contained here, it only ends this
        // connection.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.feed_unguarded(bytes))) {
            Ok(result) => result,
            Err(_) => {
                self.phase = Phase::Broken;
                Err(ProtocolError::Unreadable { offset })
            }
        }
    }

    fn feed_unguarded(&mut self, bytes: &[u8]) -> Result<Fed, ProtocolError> {
        let offset = self.offset;
        self.offset += bytes.len() as u64;
        let mut fed = Fed::default();
        let session_error = |source| ProtocolError::Session { offset, source };
        match &mut self.phase {
            Phase::Handshaking(handshake) => {
                let result = handshake.process_bytes(bytes).map_err(|source| ProtocolError::Handshake { offset, source })?;
                match result {
                    HandshakeProcessResult::InProgress { response_bytes } => fed.send.extend(response_bytes),
                    HandshakeProcessResult::Completed { response_bytes, remaining_bytes } => {
                        fed.send.extend(response_bytes);
                        let (mut session, results) = ServerSession::new(ServerSessionConfig::new()).map_err(session_error)?;
                        handle(&mut session, results, &mut fed).map_err(session_error)?;
                        let results = session.handle_input(&remaining_bytes).map_err(session_error)?;
                        handle(&mut session, results, &mut fed).map_err(session_error)?;
                        self.phase = Phase::Connected(Box::new(session));
                    }
                }
            }
            Phase::Connected(session) => {
                let results = session.handle_input(bytes).map_err(session_error)?;
                handle(session, results, &mut fed).map_err(session_error)?;
            }
            Phase::Broken => return Err(ProtocolError::Unreadable { offset }),
        }
        Ok(fed)
    }

    /// Accepts the publish request: the bytes that tell the encoder to start sending.
    pub fn accept(&mut self, request: u32) -> Result<Vec<u8>, ProtocolError> {
        self.answer(|session| session.accept_request(request))
    }

    /// Refuses the publish request, with `why` as the description the encoder shows.
    pub fn reject(&mut self, request: u32, why: &str) -> Result<Vec<u8>, ProtocolError> {
        self.answer(|session| session.reject_request(request, PUBLISH_REFUSED, why))
    }

    fn answer(
        &mut self,
        act: impl FnOnce(&mut ServerSession) -> Result<Vec<ServerSessionResult>, ServerSessionError>,
    ) -> Result<Vec<u8>, ProtocolError> {
        let offset = self.offset;
        let Phase::Connected(session) = &mut self.phase else { return Ok(Vec::new()) };
        let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut fed = Fed::default();
            let results = act(session).map_err(|source| ProtocolError::Session { offset, source })?;
            handle(session, results, &mut fed).map_err(|source| ProtocolError::Session { offset, source })?;
            Ok(fed.send)
        }));
        answered.unwrap_or_else(|_| {
            self.phase = Phase::Broken;
            Err(ProtocolError::Unreadable { offset })
        })
    }
}

/// Turns `rml_rtmp`'s results into bytes to send and events, answering `connect` itself.
fn handle(session: &mut ServerSession, results: Vec<ServerSessionResult>, fed: &mut Fed) -> Result<(), ServerSessionError> {
    for result in results {
        let event = match result {
            ServerSessionResult::OutboundResponse(packet) => {
                fed.send.extend(packet.bytes);
                continue;
            }
            ServerSessionResult::RaisedEvent(event) => event,
            // Commands livedash has no use for (FCPublish, releaseStream...) need no answer.
            ServerSessionResult::UnhandleableMessageReceived(_) => continue,
        };
        match event {
            ServerSessionEvent::ConnectionRequested { request_id, app_name } if app_name == APP => {
                let accepted = session.accept_request(request_id)?;
                handle(session, accepted, fed)?;
            }
            ServerSessionEvent::ConnectionRequested { request_id, app_name } => {
                let why = format!("livedash has one RTMP application, \"{APP}\": publish to rtmp://HOST:PORT/{APP}/STREAM");
                let refused = session.reject_request(request_id, "NetConnection.Connect.Rejected", &why)?;
                handle(session, refused, fed)?;
                fed.events.push(Event::WrongApp { app: app_name });
            }
            ServerSessionEvent::PublishStreamRequested { request_id, stream_key, .. } => {
                fed.events.push(Event::Publish { request: request_id, stream_key });
            }
            ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                let has_video = metadata.video_codec_id.is_some() || metadata.video_width.is_some();
                let has_audio = metadata.audio_codec_id.is_some() || metadata.audio_sample_rate.is_some();
                // Metadata that names no track says nothing about which tracks come.
                if has_audio || has_video {
                    fed.events.push(Event::Tracks { has_audio, has_video });
                }
            }
            ServerSessionEvent::AudioDataReceived { data, timestamp, .. } => {
                fed.events.push(Event::Media { kind: TagKind::Audio, timestamp_ms: timestamp.value, body: data });
            }
            ServerSessionEvent::VideoDataReceived { data, timestamp, .. } => {
                fed.events.push(Event::Media { kind: TagKind::Video, timestamp_ms: timestamp.value, body: data });
            }
            ServerSessionEvent::PublishStreamFinished { .. } => fed.events.push(Event::Finished),
            // Encoders announce the end with FCUnpublish before deleteStream; GStreamer may close the
            // connection between the two.
            ServerSessionEvent::UnhandleableAmf0Command { command_name, .. } if command_name == "FCUnpublish" => {
                fed.events.push(Event::Finished);
            }
            ServerSessionEvent::UnhandleableAmf0Command { command_name, .. } => {
                log::debug!("RTMP: ignoring the command {command_name:?}");
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rml_rtmp::sessions::{ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType};
    use rml_rtmp::time::RtmpTimestamp;

    use super::*;

    /// Feeds `bytes` whole, or one byte at a time; the outputs are concatenated.
    fn feed(server: &mut Session, bytes: &[u8], bytewise: bool) -> Fed {
        if !bytewise {
            return server.feed(bytes).unwrap();
        }
        let mut all = Fed::default();
        for (i, byte) in bytes.iter().enumerate() {
            let fed = server.feed(std::slice::from_ref(byte)).unwrap_or_else(|e| panic!("byte {i}: {e}"));
            all.send.extend(fed.send);
            all.events.extend(fed.events);
        }
        all
    }

    /// What the client sends for its results; its raised events go to `heard`.
    fn outbound(results: Vec<ClientSessionResult>, heard: &mut Vec<ClientSessionEvent>) -> Vec<u8> {
        let mut bytes = Vec::new();
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(packet) => bytes.extend(packet.bytes),
                ClientSessionResult::RaisedEvent(event) => heard.push(event),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        bytes
    }

    /// A whole publish by `rml_rtmp`'s own client, the server fed whole or byte by byte: the events
    /// the server raises, and what the client heard.
    fn publish_session(app: &str, bytewise: bool) -> (Vec<Event>, Vec<ClientSessionEvent>) {
        let mut server = Session::new();
        let mut events = Vec::new();
        let mut heard = Vec::new();
        let mut handshake = Handshake::new(PeerType::Client);
        let fed = feed(&mut server, &handshake.generate_outbound_p0_and_p1().unwrap(), bytewise);
        let HandshakeProcessResult::Completed { response_bytes, .. } = handshake.process_bytes(&fed.send).unwrap() else {
            panic!("the client's handshake did not complete");
        };
        let (mut client, results) = ClientSession::new(ClientSessionConfig::new()).unwrap();
        let mut to_server = response_bytes;
        to_server.extend(outbound(results, &mut heard));
        to_server.extend(outbound(vec![client.request_connection(app.to_string()).unwrap()], &mut heard));
        let step = |server: &mut Session, client: &mut ClientSession, bytes: &[u8], events: &mut Vec<Event>, heard: &mut Vec<_>| {
            let fed = feed(server, bytes, bytewise);
            events.extend(fed.events);
            outbound(client.handle_input(&fed.send).unwrap(), heard)
        };
        let reply = step(&mut server, &mut client, &to_server, &mut events, &mut heard);
        if app != APP {
            return (events, heard);
        }
        let mut to_server = reply;
        to_server.extend(outbound(vec![client.request_publishing("cam?token=t".into(), PublishRequestType::Live).unwrap()], &mut heard));
        let mut reply = step(&mut server, &mut client, &to_server, &mut events, &mut heard);
        // createStream's answer comes first; publish follows it.
        for _ in 0..3 {
            if let Some(Event::Publish { request, .. }) = events.last() {
                let start = server.accept(*request).unwrap();
                reply.extend(outbound(client.handle_input(&start).unwrap(), &mut heard));
                break;
            }
            reply = step(&mut server, &mut client, &reply, &mut events, &mut heard);
        }
        let mut media = reply;
        let video = client.publish_video_data(Bytes::from_static(&[0x17, 1, 0, 0, 0, 9, 9]), RtmpTimestamp::new(40), false);
        let audio = client.publish_audio_data(Bytes::from_static(&[0xAF, 1, 7]), RtmpTimestamp::new(60), false);
        media.extend(outbound(vec![video.unwrap(), audio.unwrap()], &mut heard));
        media.extend(outbound(client.stop_publishing().unwrap(), &mut heard));
        step(&mut server, &mut client, &media, &mut events, &mut heard);
        (events, heard)
    }

    #[test]
    fn a_publish_reads_the_same_whether_fed_whole_or_byte_by_byte() {
        let (events, heard) = publish_session(APP, false);
        let Some(Event::Publish { stream_key, .. }) = events.iter().find(|e| matches!(e, Event::Publish { .. })) else {
            panic!("no publish request in {events:?}");
        };
        assert_eq!(stream_key, "cam?token=t");
        let media: Vec<&Event> = events.iter().filter(|e| matches!(e, Event::Media { .. })).collect();
        assert_eq!(media, [
            &Event::Media { kind: TagKind::Video, timestamp_ms: 40, body: Bytes::from_static(&[0x17, 1, 0, 0, 0, 9, 9]) },
            &Event::Media { kind: TagKind::Audio, timestamp_ms: 60, body: Bytes::from_static(&[0xAF, 1, 7]) },
        ]);
        assert_eq!(events.last(), Some(&Event::Finished));
        assert!(heard.contains(&ClientSessionEvent::ConnectionRequestAccepted), "{heard:?}");
        assert!(heard.contains(&ClientSessionEvent::PublishRequestAccepted), "{heard:?}");

        let (bytewise, heard_bytewise) = publish_session(APP, true);
        assert_eq!(bytewise, events, "cut at every byte, the same events");
        assert_eq!(heard_bytewise, heard);
    }

    #[test]
    fn another_application_is_refused() {
        let (events, heard) = publish_session("vod", true);
        assert_eq!(events, [Event::WrongApp { app: "vod".into() }]);
        assert!(heard.iter().any(|e| matches!(e, ClientSessionEvent::ConnectionRequestRejected { description } if description.contains("/live/"))), "{heard:?}");
    }

    #[test]
    fn garbage_instead_of_a_handshake_is_an_error_with_its_offset() {
        let mut server = Session::new();
        let error = server.feed(&[9; 1537]).unwrap_err();
        assert!(matches!(error, ProtocolError::Handshake { offset: 0, .. }), "{error}");
    }

    #[test]
    fn a_chunk_that_contradicts_its_message_ends_the_connection_not_the_server() {
        // Found by the `rtmp` fuzz target: a continuation chunk whose header makes the message shorter
        // than what was already received made rml_rtmp subtract with overflow.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fuzz/rtmp-chunk-shorter-than-its-payload-sub-overflow.bin");
        let input = std::fs::read(path).unwrap();
        // The fuzz input's first byte (0) fed the rest whole, in one read.
        assert_eq!(input[0], 0);
        let mut server = Session::new();
        let error = server.feed(&input[1..]).expect_err("a chunk stream that contradicts itself is refused");
        assert!(matches!(error, ProtocolError::Unreadable { offset: 0 }), "{error}");
        assert!(matches!(server.feed(b"more"), Err(ProtocolError::Unreadable { .. })), "a broken connection stays broken");
    }
}
