//! The registry's rules, without IO beyond a temporary folder.

use super::*;
use crate::media::{MediaError, PackagerEvent, Summary};

fn id(s: &str) -> StreamId {
    StreamId::parse(s).unwrap()
}

fn new(registry: &Arc<Registry>, stream: &str) -> Presentation {
    match registry.claim(&id(stream), "video/webm", Source::Browser, "t".into()) {
        Ok(Claim::New(p, _lease)) => p,
        other => panic!("expected a new presentation, got {other:?}"),
    }
}

fn attach(registry: &Registry, presentation: &Presentation) -> crossbeam_channel::Receiver<Connection> {
    let dir = tempfile::tempdir().unwrap();
    let watcher = registry.media_watcher().watch(dir.path(), &presentation.tag, || {}).unwrap();
    let (tx, rx) = crossbeam_channel::unbounded();
    registry.attach_packager(presentation, watcher, tx);
    rx
}

#[test]
fn one_publisher_per_stream_until_its_presentation_ends() {
    let registry = Registry::new(PathBuf::from("/tmp/x"), 10);
    let first = new(&registry, "a");
    assert!(matches!(registry.claim(&id("a"), "video/webm", Source::Browser, "t2".into()), Err(ClaimError::Busy(_))));
    new(&registry, "b");
    registry.on_packager_event(
        &first,
        PackagerEvent::Finished(Summary { duration_seconds: 1.0, packets: 10, bytes_in: 100 }),
    );
    let second = new(&registry, "a");
    assert!(second.id > first.id);
    assert_eq!(registry.status(&id("a")).unwrap().state, StreamState::Starting);
}

#[test]
fn a_stream_is_taken_and_counted_until_its_packager_exits() {
    let registry = Registry::new(PathBuf::from("/tmp/x"), 1);
    let Ok(Claim::New(first, lease)) = registry.claim(&id("a"), "video/webm", Source::Browser, "t".into()) else { panic!() };
    registry.fail(&first, ErrorCode::Internal, "finalising took too long".into());
    assert!(matches!(registry.claim(&id("a"), "video/webm", Source::Browser, "t2".into()), Err(ClaimError::Finalising(_))));
    assert!(
        matches!(registry.claim(&id("b"), "video/webm", Source::Browser, "t2".into()), Err(ClaimError::TooMany { finishing: 0, .. })),
        "a failed presentation's packager may run on for long: nobody waits for it"
    );
    assert_eq!(registry.active_count(), 1);
    drop(lease);
    assert_eq!(registry.active_count(), 0);
    let Ok(Claim::New(second, lease)) = registry.claim(&id("a"), "video/webm", Source::Browser, "t3".into()) else { panic!() };
    assert!(
        matches!(registry.claim(&id("b"), "video/webm", Source::Browser, "t4".into()), Err(ClaimError::TooMany { finishing: 0, .. })),
        "a live stream's slot is not freed within moments"
    );
    registry.on_packager_event(&second, PackagerEvent::Finished(Summary { duration_seconds: 1.0, packets: 10, bytes_in: 100 }));
    assert!(
        matches!(registry.claim(&id("b"), "video/webm", Source::Browser, "t5".into()), Err(ClaimError::TooMany { finishing: 1, .. })),
        "an ended presentation's packager is about to exit: worth waiting for"
    );
    drop(lease);
    new(&registry, "b");
}

#[test]
fn a_vanished_publishers_presentation_is_resumed_not_restarted() {
    let registry = Registry::new(PathBuf::from("/tmp/x"), 10);
    let first = new(&registry, "r");
    let _connections = attach(&registry, &first);
    registry.publisher_left(&first);
    assert!(!registry.status(&id("r")).unwrap().publisher_connected);
    match registry.claim(&id("r"), "video/mp4", Source::Browser, "t9".into()) {
        Ok(Claim::Resume { presentation, mime_type, .. }) => {
            assert_eq!(presentation.id, first.id);
            assert_eq!(presentation.tag, "t", "same segment names");
            assert_eq!(mime_type, "video/webm");
        }
        other => panic!("expected a resume, got {other:?}"),
    }
    assert!(matches!(registry.claim(&id("r"), "video/webm", Source::Browser, "t".into()), Err(ClaimError::Busy(_))), "now connected");
}

#[test]
fn limits_and_shutdown_refuse_publishers() {
    let registry = Registry::new(PathBuf::from("/tmp/x"), 1);
    let first = new(&registry, "one");
    let connections = attach(&registry, &first);
    let refused = registry.claim(&id("two"), "video/webm", Source::Browser, "t".into()).unwrap_err();
    assert_eq!(refused.code(), ErrorCode::TooLarge);
    let mut signal = registry.shutdown_signal();
    registry.begin_shutdown();
    assert!(*signal.borrow_and_update());
    assert!(connections.recv().is_err(), "waiting packagers are let go");
    assert!(matches!(registry.claim(&id("one"), "video/webm", Source::Browser, "t".into()), Err(ClaimError::ShuttingDown)));
}

#[test]
fn states_follow_readiness_and_the_packager() {
    let registry = Registry::new(PathBuf::from("/tmp/x"), 10);
    let mut changes = registry.subscribe();
    let p = new(&registry, "s");
    registry.mark_ready(&p);
    assert_eq!(registry.status(&id("s")).unwrap().state, StreamState::Live);
    registry.on_packager_event(
        &p,
        PackagerEvent::Failed { error: MediaError::NoTracks { stream: id("s") }, salvaged: None },
    );
    let status = registry.status(&id("s")).unwrap();
    assert!(matches!(status.state, StreamState::Failed { code: ErrorCode::UnsupportedMedia, .. }));
    assert_eq!(registry.active_count(), 0);
    let mut announced = 0;
    while changes.try_recv().is_ok() {
        announced += 1;
    }
    assert_eq!(announced, 4, "claim, the packager's exit (no thread in this test), ready, failed");
}

#[test]
fn a_failed_presentation_is_not_retired_while_its_packager_runs() {
    let media = tempfile::tempdir().unwrap();
    let registry = Registry::new(media.path().to_path_buf(), 10);
    let Ok(Claim::New(p, lease)) = registry.claim(&id("f"), "video/webm", Source::Browser, "t".into()) else { panic!() };
    std::fs::create_dir(&p.dir).unwrap();
    registry.fail(&p, ErrorCode::Internal, "finalising took too long".into());
    let trash = media.path().join("trash");
    assert!(!registry.retire(&id("f"), &trash).unwrap(), "its packager may still write");
    assert!(p.dir.exists() && registry.in_use(&id("f")));
    assert!(matches!(registry.claim(&id("f"), "video/webm", Source::Browser, "t2".into()), Err(ClaimError::Finalising(_))));
    drop(lease);
    assert!(registry.retire(&id("f"), &trash).unwrap());
    assert!(!p.dir.exists() && trash.exists());
}

#[test]
fn events_for_an_old_presentation_are_ignored() {
    let registry = Registry::new(PathBuf::from("/tmp/x"), 10);
    let old = new(&registry, "s");
    registry.fail(&old, ErrorCode::Internal, "gone".into());
    let new = new(&registry, "s");
    registry.mark_ready(&old);
    let status = registry.status(&id("s")).unwrap();
    assert_eq!(status.presentation, new.id);
    assert!(!status.manifest_ready);
}
