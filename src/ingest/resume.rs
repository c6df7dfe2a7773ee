//! Zero-loss resume: a publisher whose connection drops keeps its place in the byte stream. When a
//! resumable transport ([`super::transport::Transport::resumable`]) is lost, its presentation's input (the
//! feed into the packager, with whatever was not yet in the channel) is parked here under the
//! recording's [`ResumeToken`] for `--reconnect-grace`. The packager never sees the drop: it just waits
//! for more bytes of the same recording. A `resume` with the token takes the input back and the new
//! connection's bytes continue it from the byte count the server acknowledged; a `start` instead (a
//! client that can't resume) finishes the parked input as vanished and takes the older reconnect path (a
//! new recording in the same presentation); when the grace runs out, or the server shuts down, the
//! parked input is finished as vanished with reconnects closed ([`Registry::close_reconnects`]), so the
//! packager finalises at once rather than wait a second grace.
//!
//! A connection that died without the server noticing (no FIN or reset reached it: a network switch, a
//! sleeping laptop) would hold the stream until its TCP timeout; a `resume` with the token of the
//! recording such a connection still carries asks that session to let go ([`Carrying`]), waits for its
//! input to be parked, and takes it over.
//!
//! Tokens are 256 random bits, bound to one stream and presentation, compared in constant time, and
//! never logged ([`ResumeToken`]'s `Debug` hides them).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tokio::sync::Notify;

use super::input::Input;
use crate::media::InputEnd;
use crate::streams::{Presentation, Registry};
use crate::stream_id::StreamId;

/// Random bytes in a token: 256 bits, beyond guessing.
const TOKEN_BYTES: usize = 32;

/// How long a `resume` waits for a session still carrying the recording to let go of it: the session
/// only has to leave its relay loop and park the input, so this bounds a stuck session, not a slow one.
const TAKEOVER_WAIT: Duration = Duration::from_secs(5);

/// The secret that lets the holder of a recording continue it after a drop.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResumeToken(String);

impl ResumeToken {
    /// A fresh token from the operating system's random source.
    pub fn generate() -> Result<ResumeToken, getrandom::Error> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(ResumeToken(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Whether `other` is this token, in time that does not depend on where they differ.
    fn matches(&self, other: &ResumeToken) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for ResumeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResumeToken(hidden)")
    }
}

/// One recording as the server holds it: the packager's input and how far it got.
pub struct Recording {
    pub presentation: Presentation,
    pub input: Input,
    /// Bytes of this recording handed to the input, counted from the first byte after `start`: what
    /// `received` and a resumed `accepted` say.
    pub bytes: u64,
    /// What the recording was started as (the admission webhook is asked again on resume).
    pub mime_type: String,
    /// Present when the transport can resume; the publisher was given it in `accepted`.
    pub token: Option<ResumeToken>,
}

/// A parked recording and which parking it is (so an old expiry never finishes a later parking).
struct Parked {
    recording: Recording,
    parking: u64,
}

/// Why a `resume` was refused; every case is `not_resumable` for the publisher.
#[derive(Debug, thiserror::Error)]
pub enum NotResumable {
    #[error("stream {0}: there is no recording to resume with this token (it is wrong, belongs to another stream, or its grace period ran out); start a new recording")]
    Unknown(StreamId),
    #[error("stream {0}: the recording can no longer be resumed (its presentation ended or another publisher took the stream); start a new recording")]
    Gone(StreamId),
}

/// A recording a session is carrying now, which a `resume` with its token may take over.
struct Live {
    token: ResumeToken,
    /// Asks the session to let go of the recording (it parks it).
    let_go: Arc<Notify>,
    session: u64,
}

/// Held by a session while it carries a resumable recording; dropping it withdraws the recording from
/// takeover.
pub struct Carrying {
    resumes: Arc<Resumes>,
    stream: StreamId,
    session: u64,
    /// Notified when a `resume` with this recording's token wants it: leave the relay and park it.
    pub let_go: Arc<Notify>,
}

impl Drop for Carrying {
    fn drop(&mut self) {
        let mut live = self.resumes.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if live.get(&self.stream).is_some_and(|entry| entry.session == self.session) {
            live.remove(&self.stream);
        }
    }
}

/// Recordings whose publisher dropped and may resume, at most one per stream.
#[derive(Default)]
pub struct Resumes {
    parked: Mutex<HashMap<StreamId, Parked>>,
    /// Resumable recordings being carried by a session, for takeover.
    live: Mutex<HashMap<StreamId, Live>>,
    /// Numbers parkings and sessions, so a stale entry is never mistaken for a newer one.
    counter: AtomicU64,
    /// Woken whenever a recording is parked (a takeover waits for it).
    parked_now: Notify,
}

impl Resumes {
    fn lock(&self) -> MutexGuard<'_, HashMap<StreamId, Parked>> {
        self.parked.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Parks `recording` for up to `grace`; afterwards (or at shutdown) its presentation is finalised.
    pub fn park(self: &Arc<Self>, registry: &Arc<Registry>, recording: Recording, grace: Duration) {
        let stream = recording.presentation.stream.clone();
        let parking = self.counter.fetch_add(1, Ordering::Relaxed);
        let replaced = self.lock().insert(stream.clone(), Parked { recording, parking });
        self.parked_now.notify_waiters();
        let (resumes, registry) = (Arc::clone(self), Arc::clone(registry));
        let mut shutdown = registry.shutdown_signal();
        actix_web::rt::spawn(async move {
            if let Some(old) = replaced {
                old.recording.input.finish(InputEnd::Vanished).await;
            }
            tokio::select! {
                _ = tokio::time::sleep(grace) => {}
                _ = shutdown.wait_for(|stopping| *stopping) => {}
            }
            let expired = {
                let mut parked = resumes.lock();
                match parked.get(&stream) {
                    Some(entry) if entry.parking == parking => parked.remove(&stream),
                    _ => None,
                }
            };
            if let Some(expired) = expired {
                log::info!("stream {stream}: the publisher did not resume within {grace:?}; finalising");
                // Vanished, not stopped: a recording cut inside its header is "lost", not bad data.
                registry.close_reconnects(&expired.recording.presentation);
                expired.recording.input.finish(InputEnd::Vanished).await;
            }
        });
    }

    /// A session carries a resumable recording of `stream` from now until the guard is dropped.
    pub fn carrying(self: &Arc<Self>, stream: &StreamId, token: ResumeToken) -> Carrying {
        let session = self.counter.fetch_add(1, Ordering::Relaxed);
        let let_go = Arc::new(Notify::new());
        let live = Live { token, let_go: Arc::clone(&let_go), session };
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(stream.clone(), live);
        Carrying { resumes: Arc::clone(self), stream: stream.clone(), session, let_go }
    }

    /// Takes the recording of `stream` whose token is `token`: the parked one, or the one a session
    /// still carries (that session is asked to let go, and waited for up to [`TAKEOVER_WAIT`]).
    pub async fn take_or_take_over(&self, stream: &StreamId, token: &ResumeToken) -> Result<Recording, NotResumable> {
        let deadline = tokio::time::Instant::now() + TAKEOVER_WAIT;
        let mut asked = false;
        loop {
            // Listening before looking, so a parking in between is not missed.
            let parked_now = self.parked_now.notified();
            match self.take(stream, token) {
                Ok(recording) => return Ok(recording),
                Err(refused) if asked => {
                    if tokio::time::timeout_at(deadline, parked_now).await.is_err() {
                        return Err(refused);
                    }
                }
                Err(refused) => {
                    let live = self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    let Some(carried) = live.get(stream).filter(|entry| entry.token.matches(token)) else {
                        return Err(refused);
                    };
                    log::info!("stream {stream}: a new connection resumes the recording; the old one lets go");
                    // A permit is kept if the session is not waiting right now.
                    carried.let_go.notify_one();
                    asked = true;
                }
            }
        }
    }

    /// Takes the recording parked for `stream` if `token` is its token.
    fn take(&self, stream: &StreamId, token: &ResumeToken) -> Result<Recording, NotResumable> {
        let mut parked = self.lock();
        let matches = parked
            .get(stream)
            .and_then(|entry| entry.recording.token.as_ref())
            .is_some_and(|held| held.matches(token));
        if !matches {
            return Err(NotResumable::Unknown(stream.clone()));
        }
        parked.remove(stream).map(|entry| entry.recording).ok_or_else(|| NotResumable::Unknown(stream.clone()))
    }

    /// A publisher started a new recording on `stream`: the parked one (if any) ends as vanished, so the
    /// packager takes the new recording as a reconnect.
    pub async fn abandon(&self, stream: &StreamId) {
        let abandoned = self.lock().remove(stream);
        if let Some(abandoned) = abandoned {
            log::info!("stream {stream}: the publisher started a new recording instead of resuming");
            abandoned.recording.input.finish(InputEnd::Vanished).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_long_and_hidden_from_logs() {
        let (a, b) = (ResumeToken::generate().unwrap(), ResumeToken::generate().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.0.len(), 43, "256 bits in unpadded base64url");
        assert!(a.matches(&a.clone()) && !a.matches(&b));
        assert!(!a.matches(&ResumeToken(a.0[..42].to_string())), "a prefix is not the token");
        assert!(!format!("{a:?}").contains(&a.0));
        assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{}\"", a.0));
    }
}
